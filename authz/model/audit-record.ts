/**
 * The decision audit record (HIPAA §164.312(b) audit controls: a record of every access decision on ePHI), defined
 * once as a field table. This is the one place patient identifiers are written, by design; bodies and tokens never
 * are. Format `phiguard.audit/v1`: the field names, their order and their JSON types are stable (reports and SIEM
 * parsers depend on them).
 *
 * The record exists in three shapes, all derived from `DECISION_FIELDS`:
 * - the row: the values in table order, without names and without the constant fields, built on the Check path
 *   (`decisionRow`) and handed to the audit writer thread, which validates it (`DecisionRowSchema`);
 * - the JSON line the writer thread formats from the row (authz/audit/decision-row.ts);
 * - the record object (`rowToRecord`, `DecisionAuditRecord`), which is what the line parses back to and what
 *   readers validate (`DecisionAuditRecordSchema`).
 */
import { z } from 'zod';
import type { RequestAttributesModel } from './attributes.js';
import { decisionLabel, type Decision } from './decision.js';
import { traceIds, type TraceIds } from './trace-context.js';

export const AUDIT_FORMAT = 'phiguard.audit/v1';

/** The range of ECMA-262 time values (±8.64e15 ms), which `Date#toISOString` accepts. */
export const MAX_TIME_MS = 8.64e15;

/**
 * How a field is carried in the row and written in the line:
 * - `literal`: a constant, written but not carried in the row;
 * - `string`, `number`, `boolean`, `strings` (a string list), `label` (one of a closed set of strings): as they are;
 * - `time`: epoch milliseconds in the row, an ISO 8601 string (`Date#toISOString`) in the line;
 * - `objects`: a list of objects (tuples of their fields' values in the row);
 * - `object-or-null`: one object (a tuple in the row), or null.
 * A JSON number is null where the value is not finite (JSON has no NaN or Infinity; `JSON.stringify` writes null).
 */
export type FieldKindId =
  'literal' | 'string' | 'number' | 'boolean' | 'time' | 'strings' | 'label' | 'objects' | 'object-or-null';

/** A field kind: its row value (`R`, validated by `row`) and its JSON value (`J`, validated by `json`). */
export interface FieldKind<R = unknown, J = unknown> {
  readonly id: FieldKindId;
  /** Validates a row value (on the writer thread: a thread is a boundary too). */
  readonly row: z.ZodType<R>;
  /** Validates a value of a parsed line (readers of audit files). */
  readonly json: z.ZodType<J>;
  /** The value of a `literal` field. */
  readonly value?: string;
  /** The fields of each object of an `objects` or `object-or-null` field, in output order. */
  readonly fields?: readonly AuditSubField[];
}

/** A field of an object nested in the record; its value is the source object's property of the same name. */
export interface AuditSubField<N extends string = string, R = unknown, J = unknown> {
  readonly name: N;
  readonly kind: FieldKind<R, J>;
  readonly meaning: string;
}

/** Where a decision record's values come from: the arguments of `decisionRow`. */
export type DecisionSource<R> = (
  decisionId: string,
  d: Decision,
  a: RequestAttributesModel | undefined,
  latencyUs: number,
  timeMs: number,
) => R;

/** A field of the decision record carried in the row, and how its value is taken from the decision. */
export interface AuditField<N extends string = string, R = unknown, J = unknown> extends AuditSubField<N, R, J> {
  readonly from: DecisionSource<R>;
}

/** A constant field of the decision record (not carried in the row). */
export interface AuditLiteralField<N extends string = string, V extends string = string> extends AuditSubField<
  N,
  never,
  V
> {
  readonly kind: FieldKind<never, V> & { readonly id: 'literal'; readonly value: V };
}

/** Any field of the table, as the type derivations below see it. */
type AnyField =
  AuditField | { readonly name: string; readonly kind: { readonly id: 'literal' }; readonly meaning: string };

/** The row values of a field list, in order, skipping literal fields. */
type RowOf<F extends readonly AnyField[], Acc extends unknown[] = []> = F extends readonly [
  infer H,
  ...infer T extends readonly AnyField[],
]
  ? RowOf<T, H extends AuditField ? [...Acc, z.output<H['kind']['row']>] : Acc>
  : Acc;
/** The row values of a nested object's fields, in order. */
type TupleOf<S extends readonly AuditSubField[]> = { -readonly [I in keyof S]: z.output<S[I]['kind']['row']> };
/** The parsed JSON object of a field list. */
type JsonOf<F extends readonly AuditSubField[]> = { [H in F[number] as H['name']]: z.output<H['kind']['json']> };

const kind = <R, J>(id: FieldKindId, row: z.ZodType<R>, json: z.ZodType<J>): FieldKind<R, J> => ({ id, row, json });

const STRING = kind('string', z.string(), z.string());
/** Any number in the row, as `JSON.stringify` writes any number. */
const NUMBER = kind(
  'number',
  z.custom<number>((v) => typeof v === 'number'),
  z.number().nullable(),
);
const BOOLEAN = kind('boolean', z.boolean(), z.boolean());
/** A time `toISOString` accepts (`decisionRow` checks this before a row leaves the Check path). */
const TIME = kind(
  'time',
  z.number().min(-MAX_TIME_MS).max(MAX_TIME_MS),
  z.string().refine((s) => !Number.isNaN(Date.parse(s)), 'not a time'),
);
/**
 * A string field added to `phiguard.audit/v1` after its first release: a line written before it reads as "" (readers
 * of older trails keep every record).
 */
const LATER_STRING = kind('string', z.string(), z.string().default(''));
const STRINGS = kind('strings', z.array(z.string()).readonly(), z.array(z.string()));
const DECISION_LABELS = ['allow', 'deny', 'audit-deny'] as const satisfies readonly ReturnType<typeof decisionLabel>[];
const LABEL = kind('label', z.enum(DECISION_LABELS), z.enum(DECISION_LABELS));

function literal<const N extends string, const V extends string>(
  name: N,
  value: V,
  meaning: string,
): AuditLiteralField<N, V> {
  return { name, kind: { id: 'literal', row: z.never(), json: z.literal(value), value }, meaning };
}

function field<const N extends string, R, J>(
  name: N,
  k: FieldKind<R, J>,
  meaning: string,
  from: DecisionSource<R>,
): AuditField<N, R, J> {
  return { name, kind: k, meaning, from };
}

function sub<const N extends string, R, J>(name: N, k: FieldKind<R, J>, meaning: string): AuditSubField<N, R, J> {
  return { name, kind: k, meaning };
}

// The schemas are built from the same fields as the types above (RowOf, TupleOf, JsonOf), so the casts to those
// types below restate what the construction guarantees; the tests parse real rows and lines with them.
function tupleSchema(fields: readonly AuditSubField[]): z.ZodType {
  const [first, ...rest] = fields.map((f) => f.kind.row);
  if (first === undefined) throw new Error('an audit object has at least one field');
  return z.tuple([first, ...rest]);
}

function objectSchema(fields: readonly AuditSubField[]): z.ZodType {
  return z.object(Object.fromEntries(fields.map((f) => [f.name, f.kind.json])));
}

/** An `objects` kind: a list of objects with these fields. */
function objects<const S extends readonly AuditSubField[]>(fields: S): FieldKind<readonly TupleOf<S>[], JsonOf<S>[]> {
  const row = z.array(tupleSchema(fields)).readonly() as unknown as z.ZodType<readonly TupleOf<S>[]>;
  return { id: 'objects', row, json: z.array(objectSchema(fields)) as unknown as z.ZodType<JsonOf<S>[]>, fields };
}

/** An `object-or-null` kind: one object with these fields, or null. */
function objectOrNull<const S extends readonly AuditSubField[]>(
  fields: S,
): FieldKind<TupleOf<S> | null, JsonOf<S> | null> {
  const row = tupleSchema(fields).nullable() as unknown as z.ZodType<TupleOf<S> | null>;
  const json = objectSchema(fields).nullable() as unknown as z.ZodType<JsonOf<S> | null>;
  return { id: 'object-or-null', row, json, fields };
}

/** The row of a nested object: the source's values of the fields, in order. */
function pick<const S extends readonly AuditSubField[]>(
  src: { readonly [H in S[number] as H['name']]: z.output<H['kind']['row']> },
  fields: S,
): TupleOf<S> {
  const values: unknown[] = [];
  for (const f of fields) values.push((src as Record<string, unknown>)[f.name]);
  return values as TupleOf<S>;
}

/** A batch/transaction Bundle entry (the FHIR view's `fhir.entries`). */
export const ENTRY_FIELDS = [
  sub('interaction', STRING, 'Interaction of the entry, e.g. create; "" if the entry is invalid.'),
  sub('resourceType', STRING, 'Resource type of the entry, e.g. Observation.'),
  sub('id', STRING, 'Logical id of the entry, or "".'),
  sub('patients', STRINGS, 'Every patient id the entry touches.'),
] as const;

/** An outside request's BAA coverage at the moment of contact (the egress lane's `EgressDecisionInfo`). */
export const EGRESS_FIELDS = [
  sub('host', STRING, 'Outside host contacted.'),
  sub('port', NUMBER, 'Its port.'),
  sub('covered', BOOLEAN, 'Whether a business associate agreement (§164.502(e)) covered it at contact.'),
  sub('reason', STRING, 'Why (covered or not), e.g. active-agreement, agreement-expired, no-baa-registry.'),
  sub('vendor', STRING, 'Vendor of the agreement, or "".'),
  sub('agreementId', STRING, 'Agreement id, or "".'),
  sub('registryVersion', STRING, 'Version of the BAA registry consulted, or none.'),
] as const;

const ENTRIES = objects(ENTRY_FIELDS);
const EGRESS = objectOrNull(EGRESS_FIELDS);
type EntryRow = TupleOf<typeof ENTRY_FIELDS>;
const NONE: readonly never[] = [];

function entryRows(a: RequestAttributesModel | undefined): readonly EntryRow[] {
  const entries = a?.fhir.entries;
  if (entries === undefined || entries.length === 0) return NONE;
  const rows: EntryRow[] = [];
  for (const e of entries) rows.push(pick(e, ENTRY_FIELDS));
  return rows;
}

/** The trace ids of the request last seen: the record's two trace fields read the headers once. */
let lastHeaders: ReadonlyMap<string, string> | undefined;
let lastTrace: Readonly<TraceIds> = traceIds(undefined);
function traceOf(a: RequestAttributesModel | undefined): Readonly<TraceIds> {
  const headers = a?.request.headers;
  if (headers !== lastHeaders) {
    lastHeaders = headers;
    lastTrace = traceIds(headers);
  }
  return lastTrace;
}

/**
 * The decision record, field by field in output order: name, kind, meaning, and where the value comes from
 * (`decisionRow`'s arguments: decision id, decision, request attributes when the request was parsed, latency, time).
 */
export const DECISION_FIELDS = [
  literal('format', AUDIT_FORMAT, 'Record format and version.'),
  literal('type', 'decision', 'Record type: one access decision.'),
  field('time', TIME, 'When phiguard decided.', (_i, _d, _a, _us, ms) => ms),
  field(
    'requestTime',
    TIME,
    "When the request was made (Envoy's request time, else receipt): the access time.",
    (_i, _d, a, _us, ms) => (a ? a.now.getTime() : ms),
  ),
  field('decisionId', STRING, 'Id of this decision, as in the Check response.', (id) => id),
  field('requestId', STRING, 'The request\'s x-request-id, or "".', (_i, _d, a) => a?.request.id ?? ''),
  field('agent', STRING, 'Agent policy that matched the caller, or "".', (_i, d) => d.agent),
  field('principal', STRING, 'Caller\'s mesh identity (SPIFFE id), or "".', (_i, _d, a) => a?.source.principal ?? ''),
  field('clinician', STRING, 'Verified clinician subject (`sub`), or "".', (_i, _d, a) => a?.auth.subject ?? ''),
  field(
    'authSource',
    STRING,
    'Where the clinician claims came from: jwt_authn, jwks or none.',
    (_i, _d, a) => a?.auth.source ?? 'none',
  ),
  field('method', STRING, 'HTTP method, or "".', (_i, _d, a) => a?.request.method ?? ''),
  field('host', STRING, 'Request :authority, or "".', (_i, _d, a) => a?.request.host ?? ''),
  field('interaction', STRING, 'FHIR interaction, e.g. search-type, or "".', (_i, _d, a) => a?.fhir.interaction ?? ''),
  field('resourceType', STRING, 'FHIR resource type, or "".', (_i, _d, a) => a?.fhir.resourceType ?? ''),
  field('resourceId', STRING, 'FHIR logical id, or "".', (_i, _d, a) => a?.fhir.id ?? ''),
  field('operation', STRING, 'FHIR operation, e.g. $everything, or "".', (_i, _d, a) => a?.fhir.operation ?? ''),
  field('compartment', STRING, 'Compartment of a compartment search, e.g. Patient/123, or "".', (_i, _d, a) =>
    a && a.fhir.compartment.type !== '' ? `${a.fhir.compartment.type}/${a.fhir.compartment.id}` : '',
  ),
  field('patients', STRINGS, 'Every patient id the request touches.', (_i, _d, a) => a?.fhir.patients ?? NONE),
  field(
    'patientsUnresolved',
    STRINGS,
    'Why patient scope is not fully known from the request alone.',
    (_i, _d, a) => a?.fhir.patientsUnresolved ?? NONE,
  ),
  field('entries', ENTRIES, 'Entries of a batch/transaction Bundle.', (_i, _d, a) => entryRows(a)),
  field('invalidReason', STRING, 'Why the request is invalid, or "".', (_i, _d, a) => a?.fhir.invalidReason ?? ''),
  field('decision', LABEL, 'allow, deny, or audit-deny (a policy deny let through in audit mode).', (_i, d) =>
    decisionLabel(d),
  ),
  field('reason', STRING, 'Why the decision came out as it did (DECISION_REASONS).', (_i, d) => d.reason),
  field('rule', STRING, 'Policy rule, lane or built-in rule that decided.', (_i, d) => d.rule),
  field('mode', STRING, 'enforce, audit, or none.', (_i, d) => d.mode),
  field('status', NUMBER, "HTTP status: 200 for an allow, else the deny's.", (_i, d) =>
    d.outcome === 'allow' ? 200 : d.status,
  ),
  field('policyVersion', STRING, 'Content hash of the policy set that decided.', (_i, d) => d.policyVersion),
  field('latencyUs', NUMBER, 'Time phiguard took to decide, in microseconds.', (_i, _d, _a, us) => us),
  field('breakGlass', STRING, 'Break-glass class when a lane decided, else "".', (_i, d) => d.lane?.class ?? ''),
  field('egress', EGRESS, 'Outside egress and its BAA coverage at contact; null for internal requests.', (_i, d) =>
    d.egress ? pick(d.egress, EGRESS_FIELDS) : null,
  ),
  field(
    'exception',
    STRING,
    'Hard-deny exception applied (e.g. eks-pod-identity), else "".',
    (_i, d) => d.exception ?? '',
  ),
  field(
    'unresolvedAllowed',
    STRINGS,
    'Unresolved patient-scope reasons the deciding rule opted in to (allowUnresolved), else [].',
    (_i, d) => d.unresolvedAllowed ?? NONE,
  ),
  field(
    'breakGlassAttempts',
    STRINGS,
    'Break-glass classes the verified token carried an activation claim for that did not open, as class:why ' +
      '(activation-not-met, invalid-time, not-yet-active, expired, out-of-scope), else [].',
    (_i, d) => d.laneAttempts ?? NONE,
  ),
  field(
    'traceId',
    LATER_STRING,
    'Trace id of the request (W3C traceparent, else B3), 32 or 16 lower-case hex digits, or "" (model/trace-context.ts).',
    (_i, _d, a) => traceOf(a).traceId,
  ),
  field(
    'spanId',
    LATER_STRING,
    'The caller\'s span id from the same header, 16 lower-case hex digits, or "".',
    (_i, _d, a) => traceOf(a).spanId,
  ),
  field(
    'decidedBy',
    LATER_STRING,
    'Where the decision was made: service (the ext_authz service) or proxy (the proxy-wasm filter in Envoy, recorded ' +
      'from its access log: docs/wasm.md#audit); "" in records written before the field existed (service).',
    (_i, d) => (d.proxy === undefined ? 'service' : 'proxy'),
  ),
  field(
    'reportedBy',
    LATER_STRING,
    'For a proxy decision: the SPIFFE id of the proxy that reported it (--proxy-audit xfcc), or network; else "".',
    (_i, d) => d.proxy?.reporter ?? '',
  ),
] as const;

/** The decision record's row: the values of `DECISION_FIELDS` without the literal ones, in table order. */
export type DecisionRow = RowOf<typeof DECISION_FIELDS>;

/** The decision record as an object, and as its JSON line parses (a non-finite number reads back as null). */
export type DecisionAuditRecord = JsonOf<typeof DECISION_FIELDS>;

/** The fields the row carries, in row order. */
export const DECISION_ROW_FIELDS: readonly AuditField[] = (DECISION_FIELDS as readonly AnyField[]).filter(
  (f): f is AuditField => f.kind.id !== 'literal',
);

/** A row as it arrives from another thread (the audit writer validates every row it receives). */
export const DecisionRowSchema = tupleSchema(DECISION_ROW_FIELDS) as unknown as z.ZodType<DecisionRow>;

/**
 * A decision record as parsed from an audit line (`phiguard report` validates every decision line with it). Fields
 * beyond the table are dropped, so a reader of this version reads lines of a later one that only adds fields.
 */
export const DecisionAuditRecordSchema = objectSchema(DECISION_FIELDS) as unknown as z.ZodType<DecisionAuditRecord>;

function isTimeValue(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && Math.abs(v) <= MAX_TIME_MS;
}

/**
 * The row of one decision: each field's value taken from the arguments, in table order. `timeMs` is when phiguard
 * decided, in epoch milliseconds. Throws RangeError for a time that is not a valid date (as `toISOString` would), so
 * a bad time fails the check closed on the Check path instead of failing the writer thread later.
 */
export function decisionRow(
  decisionId: string,
  d: Decision,
  a: RequestAttributesModel | undefined,
  latencyUs: number,
  timeMs: number,
): DecisionRow {
  // Built by push, not `new Array(n)`: a packed array is what the structured clone to the writer thread copies
  // fastest (a holey one goes element by element with its keys).
  const row: unknown[] = [];
  for (const f of DECISION_ROW_FIELDS) {
    const v = f.from(decisionId, d, a, latencyUs, timeMs);
    if (f.kind.id === 'time' && !isTimeValue(v)) throw new RangeError('Invalid time value');
    row.push(v);
  }
  return row as DecisionRow;
}

function subRecord(fields: readonly AuditSubField[], values: readonly unknown[]): Record<string, unknown> {
  const o: Record<string, unknown> = {};
  for (let i = 0; i < fields.length; i++) {
    const f = fields[i];
    if (f !== undefined) o[f.name] = values[i];
  }
  return o;
}

function jsonValue(k: FieldKind, v: unknown): unknown {
  switch (k.id) {
    case 'time':
      return new Date(v as number).toISOString();
    case 'objects':
      return (v as readonly (readonly unknown[])[]).map((t) => subRecord(k.fields ?? [], t));
    case 'object-or-null':
      return v === null ? null : subRecord(k.fields ?? [], v as readonly unknown[]);
    case 'literal':
      return k.value;
    case 'string':
    case 'number':
    case 'boolean':
    case 'strings':
    case 'label':
      return v;
  }
}

/**
 * The record object of a row: what its JSON line parses to (`JSON.stringify(rowToRecord(row))` is the line the
 * writer formats). Throws RangeError for a time that is not a valid date.
 */
export function rowToRecord(row: DecisionRow): DecisionAuditRecord {
  const record: Record<string, unknown> = {};
  let i = 0;
  for (const f of DECISION_FIELDS) {
    record[f.name] = f.kind.id === 'literal' ? f.kind.value : jsonValue(f.kind, row[i++]);
  }
  return record as DecisionAuditRecord;
}

/**
 * The record object of one decision (`rowToRecord(decisionRow(...))`), the documented reference for the line.
 * Throws RangeError for a time that is not a valid date.
 */
export function decisionRecord(
  decisionId: string,
  d: Decision,
  a: RequestAttributesModel | undefined,
  latencyUs: number,
  time: Date,
): DecisionAuditRecord {
  return rowToRecord(decisionRow(decisionId, d, a, latencyUs, time.getTime()));
}
