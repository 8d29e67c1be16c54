/**
 * Checks a YAML/JSON config against a protobuf message type the way Envoy's loader does, strictly:
 * unknown fields are errors (Envoy rejects them; a typo must not silently drop a setting), `typed_config`
 * (google.protobuf.Any) is resolved by `@type` and checked recursively, oneofs allow one member, enums accept
 * Envoy's case-insensitive names, and the well-known types take their JSON forms (Duration "0.5s", wrappers as
 * plain scalars, Struct as any JSON). Leniencies Envoy's YAML loader has (a single object where a list is
 * expected) are accepted. Deprecated fields are warnings.
 */
import protobuf from 'protobufjs';
import type { Finding } from '../../authz/model/index.js';

/** The codes this checker emits. */
export const PROTO_FINDING_CODES = {
  unknownField: 'unknown-field',
  /** A value of the wrong JSON type for its field (or a malformed Duration, Timestamp, wrapper). */
  wrongType: 'wrong-type',
  badEnum: 'bad-enum',
  /** Two members of one oneof set. */
  oneofConflict: 'oneof-conflict',
  /** A deprecated field (a warning: Envoy still accepts it). */
  deprecated: 'deprecated',
  /** An `@type` (or the root type) that is not in the loaded protos. */
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
 * Checks `value` against the message type `typeName`. Findings carry `file` (when given) and a dotted field path
 * (`static_resources.listeners[0].name`) below `basePath`.
 */
export function validateProtoJson(
  root: protobuf.Root,
  typeName: string,
  value: unknown,
  file = '',
  basePath = '',
): Finding<ProtoFindingCode>[] {
  const findings: Finding<ProtoFindingCode>[] = [];
  const err = (code: ProtoFindingCode, path: string, message: string): void => {
    findings.push({ code, severity: 'error', file, path, message });
  };

  const checkEnum = (e: protobuf.Enum, v: unknown, path: string): void => {
    if (typeof v === 'number') {
      if (!Object.values(e.values).includes(v)) err(C.badEnum, path, `${v} is not a value of ${e.name}`);
      return;
    }
    if (typeof v !== 'string') {
      err(C.badEnum, path, `expected one of ${Object.keys(e.values).join(', ')}`);
      return;
    }
    const upper = v.toUpperCase();
    if (!Object.keys(e.values).some((k) => k.toUpperCase() === upper))
      err(C.badEnum, path, `"${v}" is not one of ${Object.keys(e.values).join(', ')}`);
  };

  const checkValue = (field: protobuf.Field, v: unknown, path: string): void => {
    const rt = field.resolvedType;
    if (rt instanceof protobuf.Enum) checkEnum(rt, v, path);
    else if (rt instanceof protobuf.Type) checkMessage(rt, v, path);
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
        let inner: protobuf.Type;
        try {
          inner = root.lookupType(name);
        } catch {
          err(
            C.unknownType,
            `${path}.@type`,
            `type ${name} is not known to this checker (not in the loaded Envoy protos)`,
          );
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
        err(C.unknownField, p, `unknown field "${key}" in ${full}`);
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

  let type: protobuf.Type;
  try {
    type = root.lookupType(typeName);
  } catch {
    return [{ code: C.unknownType, severity: 'error', file, path: basePath, message: `type ${typeName} not loaded` }];
  }
  checkMessage(type, value, basePath);
  return findings;
}
