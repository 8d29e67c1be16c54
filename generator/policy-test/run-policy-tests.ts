/**
 * Runs policy test cases against a policy set with the service's own authorizer (the one `explain` uses), and
 * compares each decision with what the case expects. Pure over its inputs: no files, no output.
 *
 * What a one-off run cannot know is live state: containment and rate-limit budgets. A case the service would deny as
 * `contained` or `rate-limited` is decided as the rules decide it.
 */
import { createAuthorizer } from '../../authz/index.js';
import type { ClaimsResolver, CompiledPolicySet } from '../../authz/index.js';
import { decisionLabel, type Decision } from '../../authz/model/index.js';
import { checkInputFor, explainSnapshot, type ExplainRequest, type ExplainSources } from '../explain/index.js';
import type { ExpectedDecision, LocatedCase } from './test-file.js';

/** The fields a case compares, as the decision has them. */
export interface ActualDecision {
  decision: 'allow' | 'deny' | 'audit-deny';
  reason: string;
  rule: string;
  status: number;
}

export interface CaseResult {
  file: string;
  line: number;
  name: string;
  passed: boolean;
  /** The expected fields that differ (only fields the case names are compared). */
  diffs: { field: keyof ExpectedDecision; expected: string | number; actual: string | number }[];
  actual: ActualDecision;
  /** The unresolved patient-scope reasons the request had, for the reader of a failure. */
  unresolved: readonly string[];
  ms: number;
}

export interface PolicyTestRun {
  set: CompiledPolicySet;
  claims: ClaimsResolver;
  fhirBasePaths: readonly string[];
  sources: ExplainSources;
}

/** The request a case describes, its file's defaults under it. */
export function caseRequest(c: LocatedCase): ExplainRequest {
  const d = c.defaults;
  const r = c.case.request;
  const claims = r.claims === undefined ? d.claims : r.claims;
  const host = r.host ?? d.host;
  const time = r.time ?? d.time;
  const body = r.body === undefined ? undefined : typeof r.body === 'string' ? r.body : JSON.stringify(r.body);
  return {
    method: r.method,
    path: r.path,
    principal: r.principal ?? d.principal ?? '',
    headers: { ...d.headers, ...r.headers },
    ...(body !== undefined ? { body } : {}),
    ...(host !== undefined ? { host } : {}),
    ...(claims !== undefined && claims !== null ? { claims } : {}),
    ...(time !== undefined ? { time } : {}),
  };
}

function actualOf(d: Decision): ActualDecision {
  return { decision: decisionLabel(d), reason: d.reason, rule: d.rule, status: d.status };
}

function compare(expected: ExpectedDecision, actual: ActualDecision): CaseResult['diffs'] {
  const diffs: CaseResult['diffs'] = [];
  for (const field of ['decision', 'reason', 'rule', 'status'] as const) {
    const want = expected[field];
    if (want !== undefined && want !== actual[field]) diffs.push({ field, expected: want, actual: actual[field] });
  }
  return diffs;
}

/** Decides every case on one snapshot, in order. */
export async function runPolicyTests(cases: readonly LocatedCase[], run: PolicyTestRun): Promise<CaseResult[]> {
  const snapshot = explainSnapshot(run.set, run.sources);
  const authorizer = createAuthorizer({
    snapshot: () => snapshot,
    claims: run.claims,
    fhirBasePaths: run.fhirBasePaths,
  });
  const results: CaseResult[] = [];
  for (const c of cases) {
    const started = performance.now();
    const r = await authorizer.authorize(checkInputFor(caseRequest(c)), { fullTrace: true });
    const actual = actualOf(r.decision);
    const diffs = compare(c.case.expect, actual);
    results.push({
      file: c.file,
      line: c.line,
      name: c.case.name,
      passed: diffs.length === 0,
      diffs,
      actual,
      unresolved: r.attributes.fhir.patientsUnresolved,
      ms: performance.now() - started,
    });
  }
  return results;
}
