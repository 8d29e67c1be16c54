/**
 * Checks a YAML/JSON config against a protobuf message type the way Envoy's loader does: `typed_config`
 * (google.protobuf.Any) is resolved by `@type` and checked recursively, oneofs allow one member, enums accept
 * Envoy's case-insensitive names, and the well-known types take their JSON forms (Duration "0.5s", wrappers as
 * plain scalars, Struct as any JSON). Leniencies Envoy's YAML loader has (a single object where a list is
 * expected) are accepted. Deprecated fields are warnings.
 *
 * The checker knows one version of Envoy's API (`EnvoyTypes.apiVersion`); Envoy versions after it add fields, enum
 * values and extension types. So an unknown field or enum value that is one or two edits from a known one is an
 * error (a typo: Envoy rejects the config, or the intended setting is lost), and any other unknown field, enum value
 * or `@type` is a warning that names the API version the checker knows: newer than it, or a mistake it cannot tell
 * from one.
 */
import type protobuf from 'protobufjs';
import protobufjs from 'protobufjs';
import type { Finding } from '../../authz/model/index.js';
import type { EnvoyTypes } from './envoy-root.js';

/** The codes this checker emits. */
export const PROTO_FINDING_CODES = {
  /** An unknown field a typo away from a known one (an error). */
  unknownField: 'unknown-field',
  /** An unknown field, enum value or type with no near match: newer than the API the checker knows (a warning). */
  notInKnownApi: 'not-in-known-api',
  /** A value of the wrong JSON type for its field (or a malformed Duration, Timestamp, wrapper). */
  wrongType: 'wrong-type',
  badEnum: 'bad-enum',
  /** Two members of one oneof set. */
  oneofConflict: 'oneof-conflict',
  /** A deprecated field (a warning: Envoy still accepts it). */
  deprecated: 'deprecated',
  /** The root type is not in the protos (a caller's mistake). */
  unknownType: 'unknown-type',
  /** A non-empty `typed_config` without `@type`. */
  missingType: 'missing-type',
} as const;
export type ProtoFindingCode = (typeof PROTO_FINDING_CODES)[keyof typeof PROTO_FINDING_CODES];
const C = PROTO_FINDING_CODES;

const WRAPPERS: Record<string, string> = {
  'google.protobuf.BoolValue': 'bool',
  'google.protobuf.StringValue': 'string',
  'google.protobuf.BytesValue': 'bytes',
  'google.protobuf.DoubleValue': 'double',
  'google.protobuf.FloatValue': 'float',
  'google.protobuf.Int32Value': 'int32',
  'google.protobuf.UInt32Value': 'uint32',
  'google.protobuf.Int64Value': 'int64',
  'google.protobuf.UInt64Value': 'uint64',
};

const DURATION = /^-?\d+(\.\d{1,9})?s$/;

function camel(s: string): string {
  return s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());
}

/** Optimal string alignment distance (Damerau-Levenshtein with adjacent transpositions), capped at `max + 1`. */
function editDistance(a: string, b: string, max: number): number {
  if (Math.abs(a.length - b.length) > max) return max + 1;
  const d: number[][] = Array.from({ length: a.length + 1 }, (_, i) =>
    Array.from({ length: b.length + 1 }, (_v, j) => (i === 0 ? j : j === 0 ? i : 0)),
  );
  for (let i = 1; i <= a.length; i++)
    for (let j = 1; j <= b.length; j++) {
      const row = d[i] as number[];
      const prev = d[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let v = Math.min((prev[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (prev[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1])
        v = Math.min(v, (d[i - 2]?.[j - 2] ?? 0) + 1);
      row[j] = v;
    }
  return d[a.length]?.[b.length] ?? max + 1;
}

/** The known name `key` is most likely a typo of (one edit for short names, two from five characters), if any. */
export function nearMatch(key: string, known: Iterable<string>): string | undefined {
  const k = key.toLowerCase();
  const max = k.length < 5 ? 1 : 2;
  let best: { name: string; d: number } | undefined;
  for (const name of known) {
    const d = editDistance(k, name.toLowerCase(), max);
    if (d <= max && (best === undefined || d < best.d)) best = { name, d };
  }
  return best?.name;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkScalar(type: string, v: unknown): string | undefined {
  switch (type) {
    case 'string':
      return typeof v === 'string' ? undefined : 'expected a string';
    case 'bytes':
      return typeof v === 'string' ? undefined : 'expected base64 bytes';
    case 'bool':
      return typeof v === 'boolean' ? undefined : 'expected true or false';
    case 'double':
    case 'float':
      return typeof v === 'number' ||
        (typeof v === 'string' && /^(-?\d+(\.\d+)?([eE][-+]?\d+)?|NaN|-?Infinity)$/.test(v))
        ? undefined
        : 'expected a number';
    case 'int32':
    case 'sint32':
    case 'sfixed32':
    case 'int64':
    case 'sint64':
    case 'sfixed64':
      return (typeof v === 'number' && Number.isInteger(v)) || (typeof v === 'string' && /^-?\d+$/.test(v))
        ? undefined
        : 'expected an integer';
    case 'uint32':
    case 'fixed32':
    case 'uint64':
    case 'fixed64':
      return (typeof v === 'number' && Number.isInteger(v) && v >= 0) || (typeof v === 'string' && /^\d+$/.test(v))
        ? undefined
        : 'expected a non-negative integer';
    default:
      return `unsupported scalar type ${type}`;
  }
}

/**
 * Checks `value` against the message type `typeName` of `types`. Findings carry `file` (when given) and a dotted
 * field path (`static_resources.listeners[0].name`) below `basePath`; errors are what Envoy rejects, warnings are
 * deprecated fields and what is newer than the API the checker knows. Does not throw.
 */
export function validateProtoJson(
  types: EnvoyTypes,
  typeName: string,
  value: unknown,
  file = '',
  basePath = '',
): Finding<ProtoFindingCode>[] {
  const findings: Finding<ProtoFindingCode>[] = [];
  const err = (code: ProtoFindingCode, path: string, message: string): void => {
    findings.push({ code, severity: 'error', file, path, message });
  };
  const newer = (path: string, message: string): void => {
    findings.push({ code: C.notInKnownApi, severity: 'warning', file, path, message });
  };

  const checkEnum = (e: protobufjs.Enum, v: unknown, path: string): void => {
    const names = Object.keys(e.values);
    if (typeof v === 'number') {
      if (!Object.values(e.values).includes(v))
        newer(path, `${v} is not a value of ${e.name} in the ${types.apiVersion}`);
      return;
    }
    if (typeof v !== 'string') {
      err(C.badEnum, path, `expected one of ${names.join(', ')}`);
      return;
    }
    const upper = v.toUpperCase();
    if (names.some((k) => k.toUpperCase() === upper)) return;
    const near = nearMatch(v, names);
    if (near !== undefined) err(C.badEnum, path, `"${v}" is not one of ${names.join(', ')} (did you mean ${near}?)`);
    else newer(path, `"${v}" is not a value of ${e.name} in the ${types.apiVersion} (${names.join(', ')})`);
  };

  const checkValue = (field: protobufjs.Field, v: unknown, path: string): void => {
    const rt = field.resolvedType;
    if (rt instanceof protobufjs.Enum) checkEnum(rt, v, path);
    else if (rt instanceof protobufjs.Type) checkMessage(rt, v, path);
    else {
      const problem = checkScalar(field.type, v);
      if (problem) err(C.wrongType, path, problem);
    }
  };

  const checkMessage = (type: protobuf.Type, v: unknown, path: string): void => {
    const full = type.fullName.replace(/^\./, '');
    const wrapped = WRAPPERS[full];
    if (wrapped !== undefined) {
      const inner = isRecord(v) && 'value' in v ? v['value'] : v;
      const problem = checkScalar(wrapped, inner);
      if (problem) err(C.wrongType, path, problem);
      return;
    }
    switch (full) {
      case 'google.protobuf.Duration':
        if (typeof v === 'string' ? !DURATION.test(v) : !isRecord(v))
          err(C.wrongType, path, 'expected a duration like "0.5s"');
        return;
      case 'google.protobuf.Timestamp':
        if (typeof v !== 'string' || Number.isNaN(Date.parse(v)))
          err(C.wrongType, path, 'expected an RFC 3339 timestamp');
        return;
      case 'google.protobuf.Struct':
        if (!isRecord(v)) err(C.wrongType, path, 'expected an object');
        return;
      case 'google.protobuf.Value':
      case 'google.protobuf.ListValue':
        return;
      case 'google.protobuf.Any': {
        if (!isRecord(v)) {
          err(C.wrongType, path, 'expected an object with "@type"');
          return;
        }
        const t = v['@type'];
        if (typeof t !== 'string') {
          // `typed_config: {}` is accepted by Envoy for extensions with no config.
          if (Object.keys(v).length > 0) err(C.missingType, path, 'typed_config needs "@type"');
          return;
        }
        const name = t.slice(t.lastIndexOf('/') + 1);
        const inner = types.lookup(name);
        if (!(inner instanceof protobufjs.Type)) {
          newer(`${path}.@type`, `type ${name} is not checked: ${inner.detail}`);
          return;
        }
        checkMessage(inner, Object.fromEntries(Object.entries(v).filter(([k]) => k !== '@type')), path);
        return;
      }
      default:
        break;
    }
    if (!isRecord(v)) {
      err(C.wrongType, path, `expected an object (${full})`);
      return;
    }
    const byName = new Map<string, protobuf.Field>();
    for (const f of type.fieldsArray) {
      byName.set(f.name, f);
      byName.set(camel(f.name), f);
    }
    const oneofSeen = new Map<string, string>();
    for (const [key, child] of Object.entries(v)) {
      const p = path ? `${path}.${key}` : key;
      const field = byName.get(key);
      if (!field) {
        const near = nearMatch(
          key,
          type.fieldsArray.map((f) => f.name),
        );
        if (near !== undefined) err(C.unknownField, p, `unknown field "${key}" in ${full} (did you mean "${near}"?)`);
        else
          newer(
            p,
            `field "${key}" is not in ${full} in the ${types.apiVersion}: newer than that API, or a mistake ` +
              '(Envoy rejects fields it does not know)',
          );
        continue;
      }
      field.resolve();
      if (field.options?.['deprecated'] === true)
        findings.push({
          code: C.deprecated,
          severity: 'warning',
          file,
          path: p,
          message: `"${key}" is deprecated in ${full}`,
        });
      if (field.partOf && child !== null) {
        const prev = oneofSeen.get(field.partOf.name);
        if (prev !== undefined)
          err(C.oneofConflict, p, `"${key}" and "${prev}" are in the same oneof ${field.partOf.name}: set only one`);
        oneofSeen.set(field.partOf.name, key);
      }
      if (child === null) continue;
      if (field.map) {
        if (!isRecord(child)) err(C.wrongType, p, 'expected a map');
        else for (const [mk, mv] of Object.entries(child)) checkValue(field, mv, `${p}.${mk}`);
      } else if (field.repeated) {
        const items = Array.isArray(child) ? child : [child];
        items.forEach((item, i) => checkValue(field, item, `${p}[${i}]`));
      } else {
        checkValue(field, child, p);
      }
    }
  };

  const type = types.lookup(typeName);
  if (!(type instanceof protobufjs.Type))
    return [{ code: C.unknownType, severity: 'error', file, path: basePath, message: type.detail }];
  checkMessage(type, value, basePath);
  return findings;
}
