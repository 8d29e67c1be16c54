/**
 * The decision audit record as a row: its values in a fixed order, without field names, the way the Check path hands
 * a decision to the audit writer thread (audit-writer.ts). A row is cheap to build and to copy between threads (a
 * structured clone of ~30 primitives: ~1 µs per record measured, against ~3.5 µs for the record object and ~5 µs
 * for its JSON line); the writer thread turns it into the JSON line.
 *
 * `formatDecisionRow(decisionRow(...))` is byte-for-byte `JSON.stringify(decisionRecord(...))`
 * (test/audit/decision-line.test.ts holds the two equal): the record object in record.ts is the documented format.
 */
import { z } from 'zod';
import type { RequestAttributesModel } from '../model/attributes.js';
import type { Decision } from '../model/decision.js';
import { decisionLabel } from '../transport/index.js';
import { AUDIT_FORMAT } from './record.js';
import { createIsoTime } from './iso-time.js';

/** A Bundle entry: interaction, resource type, id, patients. */
export type DecisionRowEntry = [interaction: string, resourceType: string, id: string, patients: readonly string[]];
/** Outside egress: host, port, covered, reason, vendor, agreement id, registry version. */
export type DecisionRowEgress = [host: string, port: number, covered: boolean, reason: string, vendor: string, agreementId: string, registryVersion: string];

/** The values of a `DecisionAuditRecord` (record.ts), in this order. Times are epoch milliseconds. */
export type DecisionRow = [
  timeMs: number, requestTimeMs: number, decisionId: string, requestId: string, agent: string, principal: string,
  clinician: string, authSource: string, method: string, host: string, interaction: string, resourceType: string,
  resourceId: string, operation: string, compartment: string, patients: readonly string[], patientsUnresolved: readonly string[],
  entries: readonly DecisionRowEntry[], invalidReason: string, decision: string, reason: string, rule: string, mode: string,
  status: number, policyVersion: string, latencyUs: number, breakGlass: string, egress: DecisionRowEgress | null, exception: string,
];

const NONE: readonly never[] = [];

/**
 * The row of one decision. Throws RangeError for a time that is not a valid date (as `toISOString` would), so a bad
 * time fails the check closed on the Check path instead of failing the writer thread later.
 */
export function decisionRow(decisionId: string, d: Decision, a: RequestAttributesModel | undefined, latencyUs: number, timeMs: number): DecisionRow {
  const requestTimeMs = a ? a.now.getTime() : timeMs;
  if (!isIsoDate(timeMs) || !isIsoDate(requestTimeMs)) throw new RangeError('Invalid time value');
  const f = a?.fhir;
  let entries: readonly DecisionRowEntry[] = NONE;
  if (f && f.entries.length > 0) entries = f.entries.map((e): DecisionRowEntry => [e.interaction, e.resourceType, e.id, e.patients]);
  const eg = d.egress;
  return [
    timeMs, requestTimeMs, decisionId, a?.request.id ?? '', d.agent, a?.source.principal ?? '',
    a?.auth.subject ?? '', a?.auth.source ?? 'none', a?.request.method ?? '', a?.request.host ?? '', f?.interaction ?? '', f?.resourceType ?? '',
    f?.id ?? '', f?.operation ?? '', f && f.compartment.type !== '' ? `${f.compartment.type}/${f.compartment.id}` : '', f?.patients ?? NONE, f?.patientsUnresolved ?? NONE,
    entries, f?.invalidReason ?? '', decisionLabel(d), d.reason, d.rule, d.mode,
    d.outcome === 'allow' ? 200 : d.status, d.policyVersion, latencyUs, d.lane?.class ?? '',
    eg ? [eg.host, eg.port, eg.covered, eg.reason, eg.vendor, eg.agreementId, eg.registryVersion] : null, d.exception ?? '',
  ];
}

/** The range of ECMA-262 time values, which `Date#toISOString` accepts: ±8.64e15 ms. */
const MAX_TIME_MS = 8.64e15;
function isIsoDate(ms: number): boolean {
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS;
}

const str = z.string();
/** Any number: JSON.stringify writes NaN and ±Infinity as null, as it does for the record object. */
const num = z.custom<number>((v) => typeof v === 'number');
/** A time `toISOString` accepts (decisionRow checks this before a row leaves the Check path). */
const time = z.number().min(-MAX_TIME_MS).max(MAX_TIME_MS);
const strs = z.array(z.string()).readonly();
/** A row as it arrives from another thread (the writer validates every row: a thread is a boundary too). */
export const DecisionRowSchema = z.tuple([
  time, time, str, str, str, str,
  str, str, str, str, str, str,
  str, str, str, strs, strs,
  z.array(z.tuple([str, str, str, strs])).readonly(), str, str, str, str, str,
  num, str, num, str,
  z.tuple([str, num, z.boolean(), str, str, str, str]).nullable(), str,
]);

/**
 * A JSON string literal. Strings with nothing to escape (no `"`, `\\`, control characters or surrogates, which
 * JSON.stringify escapes when unpaired) are quoted as they are; anything else goes through JSON.stringify, so
 * escaping is the engine's.
 */
function q(s: string): string {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c === 0x22 || c === 0x5c || (c >= 0xd800 && c <= 0xdfff)) return JSON.stringify(s);
  }
  return `"${s}"`;
}
const n = JSON.stringify;
const HEAD = `{"format":${q(AUDIT_FORMAT)},"type":"decision","time":`;

function entriesJson(a: readonly DecisionRowEntry[]): string {
  if (a.length === 0) return '[]';
  let s = '[';
  for (let i = 0; i < a.length; i++) {
    const e = a[i];
    if (e === undefined) continue;
    s += `${i > 0 ? ',' : ''}{"interaction":${q(e[0])},"resourceType":${q(e[1])},"id":${q(e[2])},"patients":${n(e[3])}}`;
  }
  return `${s}]`;
}

/** A formatter of rows into JSON lines (without the newline). Each holds its own one-entry ISO time caches. */
export function createDecisionRowFormatter(): (r: DecisionRow) => string {
  const decisionTime = createIsoTime();
  const requestTime = createIsoTime();
  return (r) => {
    const eg = r[27];
    return `${HEAD}${q(decisionTime(r[0]))},"requestTime":${q(requestTime(r[1]))},"decisionId":${q(r[2])},"requestId":${q(r[3])}`
      + `,"agent":${q(r[4])},"principal":${q(r[5])},"clinician":${q(r[6])},"authSource":${q(r[7])}`
      + `,"method":${q(r[8])},"host":${q(r[9])},"interaction":${q(r[10])}`
      + `,"resourceType":${q(r[11])},"resourceId":${q(r[12])},"operation":${q(r[13])}`
      + `,"compartment":${q(r[14])}`
      + `,"patients":${n(r[15])},"patientsUnresolved":${n(r[16])},"entries":${entriesJson(r[17])}`
      + `,"invalidReason":${q(r[18])},"decision":${q(r[19])},"reason":${q(r[20])},"rule":${q(r[21])},"mode":${q(r[22])}`
      + `,"status":${n(r[23])},"policyVersion":${q(r[24])},"latencyUs":${n(r[25])}`
      + `,"breakGlass":${q(r[26])},"egress":${eg ? `{"host":${q(eg[0])},"port":${n(eg[1])},"covered":${eg[2]},"reason":${q(eg[3])},"vendor":${q(eg[4])},"agreementId":${q(eg[5])},"registryVersion":${q(eg[6])}}` : 'null'}`
      + `,"exception":${q(r[28])}}`;
  };
}
