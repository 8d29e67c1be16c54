/**
 * Policy test files (`*.test.yaml` beside the policies): requests and the decisions the policy set must reach for
 * them, the way `opa test` holds Rego to its cases. One YAML document per file; every case is located by line.
 */
import { z } from 'zod';
import { parseYamlDocuments, readTextFile } from '../../authz/config/index.js';
import { DECISION_REASONS } from '../../authz/model/index.js';
import type { Finding, Result } from '../../authz/model/index.js';
import { err, hasErrors, ok, PhiguardError } from '../../authz/model/index.js';

const Headers = z.record(z.string().min(1), z.string());
const Claims = z.record(z.string(), z.unknown());

/** What a case may set about its request; `defaults` sets the same fields for every case of the file. */
const RequestFields = {
  /** The caller's mesh identity (`source.principal`). */
  principal: z.string().optional(),
  /** Verified clinician claims, as jwt_authn hands them over; `null` drops the file's default (no clinician). */
  claims: Claims.nullable().optional(),
  /** Request headers; a case's headers are merged over the defaults'. */
  headers: Headers.optional(),
  /** `:authority`; default the `host` header, else `fhir.local`. */
  host: z.string().optional(),
  /** Request time (RFC 3339 with offset), as Envoy stamps `attributes.request.time`. */
  time: z.iso.datetime({ offset: true }).optional(),
};

const RequestSchema = z.strictObject({
  ...RequestFields,
  method: z.string().regex(/^[A-Z]+$/, 'an HTTP method in upper case, e.g. GET'),
  path: z.string().startsWith('/', 'the raw path with its query, starting with /'),
  /** The body: a string as sent, or a mapping sent as its JSON. */
  body: z.union([z.string(), z.record(z.string(), z.unknown())]).optional(),
});

const DECISION_LABELS = ['allow', 'deny', 'audit-deny'] as const;
const REASONS = Object.values(DECISION_REASONS) as [string, ...string[]];

const ExpectSchema = z.strictObject({
  /** The decision as audited: `allow`, `deny`, or `audit-deny` (a deny let through in audit mode). */
  decision: z.enum(DECISION_LABELS),
  /** The decision reason (docs/operations.md: decision reasons), e.g. `rule-deny`, `unresolved-patient-scope`. */
  reason: z.enum(REASONS).optional(),
  /** The rule that decided, a policy rule's name or a built-in one (`unresolved-patient-scope`, `default-deny`). */
  rule: z.string().min(1).optional(),
  /** The HTTP status of a deny. */
  status: z.number().int().min(200).max(599).optional(),
});

const CaseSchema = z.strictObject({
  name: z.string().min(1),
  request: RequestSchema,
  expect: ExpectSchema,
});

export const PolicyTestFileSchema = z.strictObject({
  /** What the file tests, for the reader. */
  description: z.string().optional(),
  defaults: z.strictObject(RequestFields).optional(),
  cases: z.array(CaseSchema).min(1, 'a test file holds at least one case'),
});

export type PolicyTestFile = z.infer<typeof PolicyTestFileSchema>;
export type PolicyTestCase = z.infer<typeof CaseSchema>;
export type ExpectedDecision = z.infer<typeof ExpectSchema>;

/** One case, located in its file. */
export interface LocatedCase {
  file: string;
  line: number;
  case: PolicyTestCase;
  defaults: NonNullable<PolicyTestFile['defaults']>;
}

/** Reads one test file: its cases, or a `data` error whose findings name file, line and field. */
export function readPolicyTestFile(file: string): Result<LocatedCase[]> {
  const text = readTextFile(file);
  if (!text.ok) return text;
  const { documents, findings } = parseYamlDocuments(text.value, file, PolicyTestFileSchema);
  const problems: Finding[] = [...findings];
  if (!hasErrors(findings) && documents.length !== 1)
    problems.push({
      code: 'document-count',
      severity: 'error',
      file,
      path: '',
      message: `${documents.length} YAML documents where one is expected`,
    });
  const [doc] = documents;
  if (hasErrors(problems) || doc === undefined)
    return err(new PhiguardError('data', `${file}: not a policy test file`, { findings: problems }));
  const defaults = doc.value.defaults ?? {};
  return ok(doc.value.cases.map((c, i) => ({ file, line: doc.lineOf(['cases', i]), case: c, defaults })));
}
