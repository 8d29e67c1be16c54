/**
 * Edge in: a CheckRequest as @grpc/proto-loader decodes it (keepCase, oneofs) -> CheckInput.
 *
 * Known traps handled here:
 * - `metadata_context` Structs arrive as `{fields: {k: {kind: "stringValue", stringValue: "..."}}}` (protobufjs
 *   names the well-known Value fields in camelCase even under keepCase) and are unwrapped to plain JSON.
 * - int64 (`size`, Timestamp `seconds`) arrive as strings (`longs: String`).
 * - The body arrives as `body` (UTF-8) or, with `pack_as_bytes`, as `raw_body` bytes (ext_authz.proto BufferSettings).
 * - Newer Envoy may send headers as `header_map` (attribute_context.proto) instead of `headers`.
 */
import { CheckInputSchema, type CheckInput } from './check-input.js';

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !Buffer.isBuffer(v);
}

/** Unwraps a google.protobuf.Value (proto-loader object form) to JSON. */
export function unwrapValue(v: unknown): unknown {
  if (!isRecord(v)) return null;
  const kind = typeof v['kind'] === 'string' ? v['kind'] : Object.keys(v).find((k) => k.endsWith('_value') || k.endsWith('Value'));
  if (kind === undefined) return null;
  const inner = v[kind];
  switch (kind) {
    case 'null_value': case 'nullValue': return null;
    case 'number_value': case 'numberValue': return typeof inner === 'number' ? inner : Number(inner);
    case 'string_value': case 'stringValue': return typeof inner === 'string' ? inner : '';
    case 'bool_value': case 'boolValue': return inner === true;
    case 'struct_value': case 'structValue': return unwrapStruct(inner);
    case 'list_value': case 'listValue': {
      const values = isRecord(inner) && Array.isArray(inner['values']) ? inner['values'] : [];
      return values.map(unwrapValue);
    }
    default: return null;
  }
}

/** Unwraps a google.protobuf.Struct to a plain object. */
export function unwrapStruct(s: unknown): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (!isRecord(s) || !isRecord(s['fields'])) return out;
  for (const [k, v] of Object.entries(s['fields'])) out[k] = unwrapValue(v);
  return out;
}

/** Normalizes a decoded gRPC CheckRequest. Returns an error code (never request content) on bad input. */
export function fromGrpcCheckRequest(raw: unknown): { ok: true; input: CheckInput } | { ok: false; error: string } {
  if (!isRecord(raw) || !isRecord(raw['attributes'])) return { ok: false, error: 'check-request-without-attributes' };
  const attrs = { ...raw['attributes'] };
  const md = attrs['metadata_context'];
  if (isRecord(md) && isRecord(md['filter_metadata'])) {
    const fm: Record<string, unknown> = {};
    for (const [ns, struct] of Object.entries(md['filter_metadata'])) fm[ns] = unwrapStruct(struct);
    attrs['metadata_context'] = { filter_metadata: fm };
  }
  const req = attrs['request'];
  if (isRecord(req) && isRecord(req['http'])) {
    const http = { ...req['http'] };
    if (http['body'] === undefined && Buffer.isBuffer(http['raw_body']) && http['raw_body'].length > 0) {
      http['body'] = http['raw_body'].toString('utf8');
    }
    delete http['raw_body'];
    const hm = http['header_map'];
    if (http['headers'] === undefined && isRecord(hm) && Array.isArray(hm['headers'])) {
      const headers: Record<string, string> = {};
      for (const h of hm['headers'] as unknown[]) {
        if (!isRecord(h) || typeof h['key'] !== 'string') continue;
        const value = typeof h['value'] === 'string' && h['value'] !== '' ? h['value'] : Buffer.isBuffer(h['raw_value']) ? h['raw_value'].toString('utf8') : '';
        headers[h['key'].toLowerCase()] = headers[h['key'].toLowerCase()] !== undefined ? `${headers[h['key'].toLowerCase()]},${value}` : value;
      }
      http['headers'] = headers;
    }
    delete http['header_map'];
    attrs['request'] = { ...req, http };
  }
  const parsed = CheckInputSchema.safeParse({ attributes: attrs });
  if (!parsed.success) return { ok: false, error: 'check-request-malformed' };
  return { ok: true, input: parsed.data };
}
