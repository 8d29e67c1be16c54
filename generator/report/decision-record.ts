/**
 * The reports' check of a decision record as parsed from its audit line: what `DecisionAuditRecordSchema`
 * (authz/model/audit-record.ts) accepts and gives back, without zod, so `phiguard report` starts without loading it
 * (zod is most of what the report bundle would otherwise load).
 *
 * `RECORD_FIELDS` restates the field table `DECISION_FIELDS` (names in order, kinds, literal values, nested fields,
 * and the string fields added after the format's first release, read as "" when absent);
 * test/report/decision-record.test.ts fails if the two differ, and holds `decisionRecordOf` to the schema on a table
 * of valid and invalid records.
 */
import type { DecisionAuditRecord } from '../../authz/model/index.js';

/** A field kind of the table, as a reader checks its JSON value. */
export type RecordKind =
  'literal' | 'string' | 'number' | 'boolean' | 'time' | 'strings' | 'label' | 'objects' | 'object-or-null';

export interface RecordField {
  readonly name: string;
  readonly kind: RecordKind;
  /** The value of a `literal` field. */
  readonly value?: string;
  /** The fields of each object of an `objects` or `object-or-null` field. */
  readonly fields?: readonly RecordField[];
  /** A string field added after the format's first release: absent, it reads as "". */
  readonly later?: true;
}

const f = (name: string, kind: RecordKind): RecordField => ({ name, kind });
const later = (name: string): RecordField => ({ name, kind: 'string', later: true });

const ENTRY: readonly RecordField[] = [
  f('interaction', 'string'),
  f('resourceType', 'string'),
  f('id', 'string'),
  f('patients', 'strings'),
];

const EGRESS: readonly RecordField[] = [
  f('host', 'string'),
  f('port', 'number'),
  f('covered', 'boolean'),
  f('reason', 'string'),
  f('vendor', 'string'),
  f('agreementId', 'string'),
  f('registryVersion', 'string'),
];

/** `DECISION_FIELDS`, as a reader of the JSON line checks it. */
export const RECORD_FIELDS: readonly RecordField[] = [
  { name: 'format', kind: 'literal', value: 'phiguard.audit/v1' },
  { name: 'type', kind: 'literal', value: 'decision' },
  f('time', 'time'),
  f('requestTime', 'time'),
  f('decisionId', 'string'),
  f('requestId', 'string'),
  f('agent', 'string'),
  f('principal', 'string'),
  f('clinician', 'string'),
  f('authSource', 'string'),
  f('method', 'string'),
  f('host', 'string'),
  f('interaction', 'string'),
  f('resourceType', 'string'),
  f('resourceId', 'string'),
  f('operation', 'string'),
  f('compartment', 'string'),
  f('patients', 'strings'),
  f('patientsUnresolved', 'strings'),
  { name: 'entries', kind: 'objects', fields: ENTRY },
  f('invalidReason', 'string'),
  f('decision', 'label'),
  f('reason', 'string'),
  f('rule', 'string'),
  f('mode', 'string'),
  f('status', 'number'),
  f('policyVersion', 'string'),
  f('latencyUs', 'number'),
  f('breakGlass', 'string'),
  { name: 'egress', kind: 'object-or-null', fields: EGRESS },
  f('exception', 'string'),
  f('unresolvedAllowed', 'strings'),
  f('breakGlassAttempts', 'strings'),
  later('traceId'),
  later('spanId'),
  later('decidedBy'),
  later('reportedBy'),
];

/** The values of a `label` field. */
export const DECISION_LABELS: readonly string[] = ['allow', 'deny', 'audit-deny'];

/** Marks a value that does not check (never a JSON value). */
const BAD = Symbol('bad');

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function isStrings(v: unknown): boolean {
  if (!Array.isArray(v)) return false;
  for (const s of v) if (typeof s !== 'string') return false;
  return true;
}

/** How many of the fields' names the object's own keys are, in order and nothing else; -1 if they are not. */
function leadingKeys(v: Record<string, unknown>, fields: readonly RecordField[]): number {
  let i = 0;
  for (const k in v) {
    if (fields[i]?.name !== k) return -1;
    i++;
  }
  return i;
}

/** Whether the object's own keys are the fields' names, in order (as the writer writes every line). */
const hasKeysOf = (v: Record<string, unknown>, fields: readonly RecordField[]): boolean =>
  leadingKeys(v, fields) === fields.length;

/** The later fields come last: a record written before them has the others' keys, in order. */
const FIRST_LATER = RECORD_FIELDS.findIndex((fd) => fd.later === true);

/**
 * The object with the table's fields only, in table order, or BAD. An object whose keys are already the table's, in
 * order (every line the writer writes), is checked and given back itself (a nested object rebuilt in it where its
 * own keys differ): building a copy of each selected record costs a report more than parsing it.
 */
function objectOf(v: unknown, fields: readonly RecordField[]): Record<string, unknown> | typeof BAD {
  if (!isObject(v)) return BAD;
  if (hasKeysOf(v, fields)) {
    for (const fd of fields) {
      const was = v[fd.name];
      const x = valueOf(was, fd);
      if (x === BAD) return BAD;
      if (x !== was) v[fd.name] = x;
    }
    return v;
  }
  const out: Record<string, unknown> = {};
  for (const fd of fields) {
    const x = valueOf(v[fd.name], fd);
    if (x === BAD) return BAD;
    out[fd.name] = x;
  }
  return out;
}

/** The checked value of one field, or BAD. */
function valueOf(v: unknown, fd: RecordField): unknown {
  switch (fd.kind) {
    case 'literal':
      return v === fd.value ? v : BAD;
    case 'string':
      return typeof v === 'string' ? v : v === undefined && fd.later === true ? '' : BAD;
    case 'number':
      // A number JSON can hold (`1e999` parses to Infinity, which the schema rejects), or null (a non-finite one
      // written by JSON.stringify).
      return v === null || (typeof v === 'number' && Number.isFinite(v)) ? v : BAD;
    case 'boolean':
      return typeof v === 'boolean' ? v : BAD;
    case 'time':
      return typeof v === 'string' && !Number.isNaN(Date.parse(v)) ? v : BAD;
    case 'strings':
      return isStrings(v) ? v : BAD;
    case 'label':
      return typeof v === 'string' && DECISION_LABELS.includes(v) ? v : BAD;
    case 'objects': {
      if (!Array.isArray(v)) return BAD;
      const list = v as unknown[];
      for (let i = 0; i < list.length; i++) {
        const x = objectOf(list[i], fd.fields ?? []);
        if (x === BAD) return BAD;
        list[i] = x;
      }
      return list;
    }
    case 'object-or-null':
      return v === null ? null : objectOf(v, fd.fields ?? []);
  }
}

const isStr = (v: unknown): boolean => typeof v === 'string';
const isNum = (v: unknown): boolean => v === null || (typeof v === 'number' && Number.isFinite(v));
const isTime = (v: unknown): boolean => typeof v === 'string' && !Number.isNaN(Date.parse(v));

/** A later field's value: a string, or absent (read as ""). */
const isLater = (v: unknown): boolean => v === undefined || typeof v === 'string';

/**
 * The check of a record as the writer writes it, field by field in straight-line code (cheaper than the table
 * walk in the few thousand records a report selects, which run before the JIT has optimised anything): true when
 * the keys are the table's, in order (or all but the trailing later fields), nested objects' keys likewise, and every
 * value checks. Where it is false, the table walk (`objectOf`) decides: it rejects, or gives back the record rebuilt
 * in table order.
 */
function isWriterRecord(r: Record<string, unknown>): boolean {
  if (leadingKeys(r, RECORD_FIELDS) < FIRST_LATER) return false;
  if (!(
    r['format'] === 'phiguard.audit/v1' &&
    r['type'] === 'decision' &&
    isTime(r['time']) &&
    isTime(r['requestTime']) &&
    isStr(r['decisionId']) &&
    isStr(r['requestId']) &&
    isStr(r['agent']) &&
    isStr(r['principal']) &&
    isStr(r['clinician']) &&
    isStr(r['authSource']) &&
    isStr(r['method']) &&
    isStr(r['host']) &&
    isStr(r['interaction']) &&
    isStr(r['resourceType']) &&
    isStr(r['resourceId']) &&
    isStr(r['operation']) &&
    isStr(r['compartment']) &&
    isStrings(r['patients']) &&
    isStrings(r['patientsUnresolved']) &&
    isStr(r['invalidReason']) &&
    (r['decision'] === 'allow' || r['decision'] === 'deny' || r['decision'] === 'audit-deny') &&
    isStr(r['reason']) &&
    isStr(r['rule']) &&
    isStr(r['mode']) &&
    isNum(r['status']) &&
    isStr(r['policyVersion']) &&
    isNum(r['latencyUs']) &&
    isStr(r['breakGlass']) &&
    isStr(r['exception']) &&
    isStrings(r['unresolvedAllowed']) &&
    isStrings(r['breakGlassAttempts']) &&
    isLater(r['traceId']) &&
    isLater(r['spanId']) &&
    isLater(r['decidedBy']) &&
    isLater(r['reportedBy'])
  ))
    return false;
  const entries = r['entries'];
  if (!Array.isArray(entries)) return false;
  for (const e of entries as unknown[]) {
    if (!isObject(e) || !hasKeysOf(e, ENTRY)) return false;
    if (!(isStr(e['interaction']) && isStr(e['resourceType']) && isStr(e['id']) && isStrings(e['patients'])))
      return false;
  }
  const g = r['egress'];
  if (g === null) return true;
  return (
    isObject(g) &&
    hasKeysOf(g, EGRESS) &&
    isStr(g['host']) &&
    isNum(g['port']) &&
    typeof g['covered'] === 'boolean' &&
    isStr(g['reason']) &&
    isStr(g['vendor']) &&
    isStr(g['agreementId']) &&
    isStr(g['registryVersion'])
  );
}

/**
 * The decision record of a parsed line, as `DecisionAuditRecordSchema.safeParse` gives it (fields beyond the table
 * dropped, the later string fields "" when absent), or undefined where the schema rejects it. The record may be `v`
 * itself, and `v` may be changed in the check (a nested object rebuilt), so `v` is a value nothing else holds (a line
 * just parsed).
 */
export function decisionRecordOf(v: unknown): DecisionAuditRecord | undefined {
  if (isObject(v) && isWriterRecord(v)) {
    // Absent later fields are the trailing ones: added in table order.
    for (let i = FIRST_LATER; i < RECORD_FIELDS.length; i++) {
      const name = RECORD_FIELDS[i]?.name ?? '';
      if (v[name] === undefined) v[name] = '';
    }
    return v as DecisionAuditRecord;
  }
  const r = objectOf(v, RECORD_FIELDS);
  return r === BAD ? undefined : (r as DecisionAuditRecord);
}
