/**
 * The reports' decision-record check (generator/report/decision-record.ts) against the reader schema it replaces in
 * the report path, `DecisionAuditRecordSchema`: the same field table, and on a table of records (lines the writer
 * formats, each field removed, of each wrong type, a wrong literal or label, nested fields likewise, records written
 * before the later fields existed, extra fields) the same verdict and the same record given back.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import { decisionLine } from '../../authz/audit/index.js';
import type { RequestAttributesModel } from '../../authz/model/attributes.js';
import { DECISION_FIELDS, DecisionAuditRecordSchema, type AuditSubField } from '../../authz/model/audit-record.js';
import type { Decision } from '../../authz/model/decision.js';
import { auditRecords, newStats } from '../../generator/report/index.js';
import {
  decisionRecordOf,
  DECISION_LABELS,
  RECORD_FIELDS,
  type RecordField,
} from '../../generator/report/decision-record.js';
import { auditTime as at, bareDeny, bundleAttributes, laneAllow } from '../helpers/audit-fixtures.js';
import { tempDir } from '../helpers/temp.js';

type Obj = Record<string, unknown>;

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

/** The table as the check restates it, from DECISION_FIELDS: names, kinds, literal values, nested fields, later. */
function restated(fields: readonly AuditSubField[]): RecordField[] {
  return fields.map((fd) => {
    const r: { -readonly [K in keyof RecordField]: RecordField[K] } = { name: fd.name, kind: fd.kind.id };
    if (fd.kind.value !== undefined) r.value = fd.kind.value;
    if (fd.kind.fields !== undefined) r.fields = restated(fd.kind.fields);
    // A field whose JSON schema accepts an absent value (a default) is one added after the first release.
    if (fd.kind.id !== 'literal' && fd.kind.json.safeParse(undefined).success) r.later = true;
    return r;
  });
}

const attrs: RequestAttributesModel = { ...bundleAttributes, fhir: { ...bundleAttributes.fhir, operation: '' } };
const egress = {
  host: 'api.vendor.example',
  port: 443,
  covered: false,
  reason: 'no-agreement',
  vendor: '',
  agreementId: '',
  registryVersion: 'r1',
};
const auditDeny: Decision = {
  ...bareDeny,
  outcome: 'allow',
  verdict: 'deny',
  mode: 'audit',
  laneAttempts: ['ed:expired'],
  egress: { ...egress, port: Number.NaN },
  proxy: { reporter: 'network' },
};

/** Valid decision records: lines the writer formats, and the fixtures' decision lines. */
const writerLines = [
  decisionLine('d-1', bareDeny, undefined, 12, at),
  decisionLine('d-2', laneAllow, attrs, 137, at),
  decisionLine('d-3', auditDeny, attrs, Number.POSITIVE_INFINITY, at),
];
const decisionLines = (names: readonly string[]): string[] =>
  names.flatMap((n) =>
    readFileSync(path.join(FIX, n), 'utf8')
      .split('\n')
      .filter((l) => l.includes('"type":"decision"') && l.endsWith('}')),
  );
const valid: Obj[] = [...writerLines, ...decisionLines(['replica-a.jsonl', 'replica-b.jsonl'])].map(
  (l) => JSON.parse(l) as Obj,
);

/** Values of every JSON type, and the near misses of each kind. */
const WRONG: unknown[] = [
  undefined,
  null,
  0,
  -1.5,
  Number.POSITIVE_INFINITY,
  '',
  'x',
  'not a time',
  '2026-11-25T10:00:00.123Z',
  'phiguard.audit/v2',
  'Decision',
  'decision',
  'Allow',
  true,
  false,
  [],
  ['x'],
  [1],
  [null],
  {},
  { x: 1 },
  [{}],
  [{ interaction: 'read', resourceType: 'Patient', id: 'p', patients: [] }],
  { ...egress },
  ...DECISION_LABELS,
];

/** A copy of `o` with `key` set to `v` (removed for undefined). */
function withValue(o: Obj, key: string, v: unknown): Obj {
  const c = structuredClone(o);
  if (v === undefined) delete c[key];
  else c[key] = structuredClone(v);
  return c;
}

/** Every variant of a valid record: each field, and each nested field, removed or replaced by each wrong value. */
function variants(o: Obj): Obj[] {
  const out: Obj[] = [];
  for (const fd of RECORD_FIELDS) {
    for (const v of WRONG) out.push(withValue(o, fd.name, v));
    const sub = o[fd.name];
    const subs: Obj[] = Array.isArray(sub)
      ? (sub as Obj[])
      : sub !== null && typeof sub === 'object'
        ? [sub as Obj]
        : [];
    subs.forEach((s, i) => {
      for (const sf of fd.fields ?? []) {
        for (const v of WRONG) {
          const changed = withValue(s, sf.name, v);
          const c = structuredClone(o);
          if (Array.isArray(sub)) (c[fd.name] as Obj[])[i] = changed;
          else c[fd.name] = changed;
          out.push(c);
        }
        const extra = structuredClone(o);
        if (Array.isArray(sub)) (extra[fd.name] as Obj[])[i] = { ...s, extra: 1 };
        else extra[fd.name] = { ...s, extra: 1 };
        out.push(extra);
      }
    });
  }
  // Fields beyond the table (a later version's), and records written before the later fields existed.
  out.push({ ...o, addedLater: { a: 1 }, zz: [1] });
  const LATER = RECORD_FIELDS.filter((fd) => fd.later === true).map((fd) => fd.name);
  const before: Obj = structuredClone(o);
  for (const n of LATER) delete before[n];
  out.push(before);
  return out;
}

/** The schema's verdict and record, and the check's, for one candidate. */
function both(c: unknown): { schema: unknown; check: unknown } {
  const r = DecisionAuditRecordSchema.safeParse(structuredClone(c));
  const mine = decisionRecordOf(structuredClone(c));
  return {
    schema: r.success ? JSON.stringify(r.data) : 'rejected',
    check: mine === undefined ? 'rejected' : JSON.stringify(mine),
  };
}

describe('the reports check a decision record as the reader schema does', () => {
  test('the check restates the field table: names in order, kinds, literal values, nested fields, later fields', () => {
    expect(RECORD_FIELDS).toEqual(restated(DECISION_FIELDS));
  });

  test('every valid record is accepted and given back as the schema gives it (same fields, same order)', () => {
    expect(valid.length).toBeGreaterThanOrEqual(6);
    for (const o of valid) {
      const { schema, check } = both(o);
      expect(schema).not.toBe('rejected');
      expect(check).toBe(schema);
    }
  });

  test('each field removed, of each wrong type, a wrong literal or label, nested likewise: the same verdict', () => {
    let rejected = 0;
    let accepted = 0;
    for (const o of valid) {
      for (const c of variants(o)) {
        const { schema, check } = both(c);
        expect({ record: c, check }).toEqual({ record: c, check: schema });
        if (schema === 'rejected') rejected++;
        else accepted++;
      }
    }
    // Not vacuous: most variants are rejected, and some (a later field absent, extra fields, a valid value) pass.
    expect(rejected).toBeGreaterThan(5000);
    expect(accepted).toBeGreaterThan(500);
  });

  test("what is not an object is rejected, and the fixtures' other decision lines get the same verdict", () => {
    for (const c of [null, [], ['x'], 'x', 1, true]) expect(both(c)).toEqual({ schema: 'rejected', check: 'rejected' });
    // mixed.jsonl holds a decision line without `patients`; older-v1.jsonl one from before requestTime existed.
    const others = decisionLines(['mixed.jsonl', 'older-v1.jsonl']).map((l) => JSON.parse(l) as Obj);
    expect(others.map((o) => both(o).schema)).toContain('rejected');
    for (const o of others) {
      const { schema, check } = both(o);
      expect(check).toBe(schema);
    }
  });

  test('a framed line with a field of the wrong type is still an error naming its line', async () => {
    const tmp = tempDir();
    try {
      const good = writerLines[0] ?? '';
      expect(good).toContain('"status":451');
      const file = tmp.write('a.jsonl', `${good}\n${good.replace('"status":451', '"status":"451"')}\n`);
      const read = async (skipCorrupt: boolean): Promise<number> => {
        const stats = newStats([file]);
        const got: unknown[] = [];
        for await (const r of auditRecords([file], { needles: [], skipCorrupt, stats })) got.push(r);
        expect(got).toHaveLength(1);
        return stats.linesSkipped;
      };
      await expect(read(false)).rejects.toThrow(`${file}:2: not a phiguard.audit/v1 record`);
      await expect(read(true)).resolves.toBe(1);
    } finally {
      tmp.remove();
    }
  });
});
