/**
 * The decision line is formatted from a row without building the record object; it must be byte-for-byte
 * `JSON.stringify(decisionRecord(...))`. Both come from the field table (authz/model/audit-record.ts), which these
 * tests also hold to the `phiguard.audit/v1` format: names in table order, and the reader's schema.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  ClaimsConfigSchema,
  createAuthorizer,
  policyOnlySnapshot,
  createClaimsResolver,
  DECISION_REASONS,
  readPolicyDir,
  type Decision,
  type RequestAttributesModel,
} from '../../authz/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import { auditTime as at, bareDeny, bundleAttributes, laneAllow } from '../helpers/audit-fixtures.js';
import { createDecisionRowFormatter, decisionLine, decisionRecord } from '../../authz/audit/index.js';
import {
  DECISION_FIELDS,
  DecisionAuditRecordSchema,
  DecisionRowSchema,
  decisionRow,
  rowToRecord,
} from '../../authz/model/index.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const loaded = readPolicyDir(path.join(here, '../../examples/policies'));
if (!loaded.ok) throw new Error('example policies did not load');
const set = loaded.value.set;
const authorizer = createAuthorizer({
  snapshot: () => policyOnlySnapshot(set),
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir', '/fhir/R4'],
});

const Case = z.object({
  name: z.string(),
  request: z.object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
  }),
});
const cases = z.array(Case).parse(yaml.load(readFileSync(path.join(here, '../fhir/request-model.cases.yaml'), 'utf8')));
const principals = [
  'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
  'spiffe://cluster.local/ns/cds/sa/sepsis-watch',
  'spiffe://cluster.local/ns/unknown/sa/x',
];

const same = (id: string, d: Decision, a: RequestAttributesModel | undefined, us: number, t: Date): void => {
  const line = decisionLine(id, d, a, us, t);
  expect(line).toBe(JSON.stringify(decisionRecord(id, d, a, us, t)));
  // The row crosses to the writer thread as a structured clone and is validated there: every row must pass.
  expect(DecisionRowSchema.safeParse(structuredClone(decisionRow(id, d, a, us, t.getTime()))).success).toBe(true);
  // `phiguard report` validates every decision line it reads: every line written must pass.
  expect(DecisionAuditRecordSchema.safeParse(JSON.parse(line)).success).toBe(true);
};

const bundle: RequestAttributesModel = bundleAttributes;

/**
 * The `phiguard.audit/v1` lines of the two decisions above, as written before the field table existed (with the fields
 * added since at the end).
 */
const GOLDEN = [
  [
    '{"format":"phiguard.audit/v1","type":"decision","time":"2026-11-25T10:00:00.123Z",',
    '"requestTime":"2026-11-25T09:59:59.999Z","decisionId":"id-1","requestId":"req-1","agent":"ambient-scribe",',
    '"principal":"spiffe://cluster.local/ns/scribe/sa/ambient-scribe","clinician":"Practitioner/dr-a",',
    '"authSource":"jwks","method":"POST","host":"fhir.hospital.internal","interaction":"transaction",',
    '"resourceType":"Bundle","resourceId":"b1","operation":"$x","compartment":"Patient/p-1","patients":["p-1","p-2"],',
    '"patientsUnresolved":["body-incomplete"],"entries":[{"interaction":"create","resourceType":"Observation","id":"",',
    '"patients":["p-1"]},{"interaction":"read","resourceType":"Patient","id":"p-2","patients":[]}],"invalidReason":"",',
    '"decision":"allow","reason":"rule-allow","rule":"r1","mode":"enforce","status":200,"policyVersion":"sha256:abc",',
    '"latencyUs":137,"breakGlass":"code-blue","egress":{"host":"api.example.com","port":443,"covered":false,',
    '"reason":"agreement-expired","vendor":"Vendor","agreementId":"BAA-1","registryVersion":"sha256:1"},',
    '"exception":"eks-pod-identity","unresolvedAllowed":["body-incomplete"],"breakGlassAttempts":[],',
    '"traceId":"4bf92f3577b34da6a3ce929d0e0e4736","spanId":"00f067aa0ba902b7","decidedBy":"service","reportedBy":""}',
  ].join(''),
  [
    '{"format":"phiguard.audit/v1","type":"decision","time":"2026-11-25T10:00:00.123Z",',
    '"requestTime":"2026-11-25T10:00:00.123Z","decisionId":"id-2","requestId":"","agent":"","principal":"",',
    '"clinician":"","authSource":"none","method":"","host":"","interaction":"","resourceType":"","resourceId":"",',
    '"operation":"","compartment":"","patients":[],"patientsUnresolved":[],"entries":[],"invalidReason":"",',
    '"decision":"deny","reason":"no-rule-matched","rule":"default-deny","mode":"none","status":451,"policyVersion":"",',
    '"latencyUs":0,"breakGlass":"","egress":null,"exception":"","unresolvedAllowed":[],"breakGlassAttempts":[],',
    '"traceId":"","spanId":"","decidedBy":"service","reportedBy":""}',
  ].join(''),
];

describe('decision audit line', () => {
  test.each(cases.map((c) => [c.name, c] as const))('request-model case: %s', async (_n, c) => {
    for (const principal of principals) {
      const body = c.request.body !== undefined ? { body: c.request.body } : {};
      const { method, path: p, headers } = c.request;
      const input = checkInputFor({ principal, method, path: p, headers, ...body });
      const r = await authorizer.authorize(input);
      same('0b7e3a5e-6f0a-4c8e-9d5e-2b8f0a1c3d4e', r.decision, r.attributes, 137, at);
    }
  });

  test('decisions with a lane, egress coverage, an exception, no attributes, and hostile strings', async () => {
    const hostile = '/fhir/Patient/p-"1"\\\u0001é😀';
    const input = checkInputFor({ principal: principals[0] ?? '', method: 'GET', path: hostile, headers: {} });
    const r = await authorizer.authorize(input);
    const d: Decision = {
      ...r.decision,
      agent: 'a"b',
      rule: 'break-glass:code-blue',
      reason: DECISION_REASONS.breakGlass,
      exception: 'eks-pod-identity',
      lane: {
        class: 'code-blue',
        purposeOfUse: 'BTG',
        activatedAt: at.toISOString(),
        expiresAt: at.toISOString(),
        overrode: { rule: 'x', reason: DECISION_REASONS.ruleDeny },
      },
      egress: {
        host: 'api.example.com',
        port: 443,
        covered: false,
        reason: 'agreement-expired',
        vendor: 'V "q"',
        agreementId: 'BAA-1',
        registryVersion: 'sha256:1',
      },
    };
    same('id-\u2028', d, r.attributes, Number.NaN, at);
    same('x', { ...d, outcome: 'deny', verdict: 'deny', status: 451, mode: 'audit' }, undefined, 0, at);
    same('x', { ...d, outcome: 'allow', verdict: 'deny', mode: 'audit' }, r.attributes, 12, new Date(at.getTime() + 1));
  });

  test('the format is unchanged: golden lines', () => {
    expect(decisionLine('id-1', laneAllow, bundle, 137, at)).toBe(GOLDEN[0]);
    expect(decisionLine('id-2', bareDeny, undefined, 0, at)).toBe(GOLDEN[1]);
    same('id-1', laneAllow, bundle, 137, at);
    same('id-2', bareDeny, undefined, 0, at);
  });

  test('a time that is not a valid date fails on the Check path (RangeError), as toISOString would', () => {
    expect(() => decisionRow('x', bareDeny, undefined, 0, Number.NaN)).toThrow(RangeError);
    expect(() => decisionRow('x', bareDeny, undefined, 0, 8.64e15 + 1)).toThrow(RangeError);
    const badNow = { ...bundle, now: new Date(Number.NaN) };
    expect(() => decisionRow('x', bareDeny, badNow, 0, at.getTime())).toThrow(RangeError);
    expect(() => decisionLine('x', bareDeny, undefined, 0, new Date(Number.NaN))).toThrow(RangeError);
  });

  test('one formatter keeps the two time caches apart', () => {
    const format = createDecisionRowFormatter();
    for (const ms of [at.getTime(), at.getTime(), at.getTime() + 5]) {
      const row = decisionRow('x', laneAllow, bundle, 1, ms);
      expect(format(row)).toBe(JSON.stringify(rowToRecord(row)));
    }
  });
});

describe('the field table', () => {
  const format = createDecisionRowFormatter();
  const allowRow = decisionRow('id-1', laneAllow, bundle, 137, at.getTime());
  const denyRow = decisionRow('id-2', bareDeny, undefined, 0, at.getTime());
  const allowLine = format(allowRow);
  const denyLine = format(denyRow);
  const samples = [
    { row: allowRow, line: allowLine },
    { row: denyRow, line: denyLine },
  ];

  test('every field appears in the formatted line, in table order, nested objects included', () => {
    for (const { line } of samples) {
      const parsed = JSON.parse(line) as Record<string, unknown>;
      expect(Object.keys(parsed)).toEqual(DECISION_FIELDS.map((f) => f.name));
      for (const f of DECISION_FIELDS) {
        const sub = f.kind.fields?.map((s) => s.name);
        const v = parsed[f.name];
        if (sub === undefined || v === null) continue;
        for (const o of Array.isArray(v) ? v : [v]) expect(Object.keys(o as object)).toEqual(sub);
      }
    }
    expect(allowLine).toContain('"entries":[{"interaction"');
    expect(allowLine).toContain('"egress":{"host"');
  });

  test('the row has one value per non-literal field, and literal fields are written as their value', () => {
    const literals = DECISION_FIELDS.filter((f) => f.kind.id === 'literal');
    for (const { row, line } of samples) {
      expect(row).toHaveLength(DECISION_FIELDS.length - literals.length);
      const parsed = JSON.parse(line) as Record<string, unknown>;
      for (const f of literals) expect(parsed[f.name]).toBe(f.kind.value);
    }
  });

  test('every field has a one-line meaning', () => {
    for (const f of DECISION_FIELDS) {
      expect(f.meaning).toMatch(/\S/);
      expect(f.meaning).not.toContain('\n');
    }
  });

  test('the reader schema accepts every formatted line and gives back the record object', () => {
    for (const { row, line } of samples) {
      const r = DecisionAuditRecordSchema.safeParse(JSON.parse(line));
      expect(r.success).toBe(true);
      expect(r.data).toEqual(rowToRecord(row));
    }
  });

  /** Fields added to phiguard.audit/v1 after its first release: a line without them reads them as "". */
  const LATER = new Set(['traceId', 'spanId', 'decidedBy', 'reportedBy']);

  test.each(DECISION_FIELDS.filter((f) => !LATER.has(f.name)).map((f) => [f.name] as const))(
    'the reader schema rejects a line without %s',
    (name) => {
      for (const { line } of samples) {
        const o = JSON.parse(line) as Record<string, unknown>;
        delete o[name];
        expect(DecisionAuditRecordSchema.safeParse(o).success).toBe(false);
      }
    },
  );

  test.each([...LATER].map((n) => [n] as const))('a line written before %s existed reads it as ""', (name) => {
    for (const { line } of samples) {
      const o = JSON.parse(line) as Record<string, unknown>;
      delete o[name];
      const r = DecisionAuditRecordSchema.safeParse(o);
      expect(r.success).toBe(true);
      expect((r.data as Record<string, unknown> | undefined)?.[name]).toBe('');
    }
  });

  test.each(DECISION_FIELDS.filter((f) => f.kind.id !== 'literal').map((f, i) => [f.name, i] as const))(
    'the row schema rejects a row with a wrong %s',
    (_name, i) => {
      const row: unknown[] = structuredClone(allowRow);
      row[i] = { wrong: true };
      expect(DecisionRowSchema.safeParse(row).success).toBe(false);
      expect(DecisionRowSchema.safeParse(row.slice(0, i)).success).toBe(false);
    },
  );
});
