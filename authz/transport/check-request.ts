/**
 * Edge in: a decoded CheckRequest -> CheckInput.
 *
 * Input is the protobufjs message grpc-codec.ts decodes (or an equivalent plain object in proto field names). The
 * protobuf decoder has already enforced the schema's types; this mapping only reads what phiguard uses, with typed
 * guards, so nothing untyped flows further. Known traps handled here:
 * - `metadata_context` Structs arrive as `{fields: {k: {kind: "stringValue", stringValue: "..."}}}` (protobufjs
 *   names the well-known Value fields in camelCase even under keepCase) and are unwrapped to plain JSON.
 * - int64 (`size`, Timestamp `seconds`) arrive as Long objects or strings, never lossy numbers.
 * - The body arrives as `body` (UTF-8) or, with `pack_as_bytes`, as `raw_body` bytes (ext_authz.proto BufferSettings).
 * - Newer Envoy may send headers as `header_map` (attribute_context.proto) instead of `headers`.
 */
import type { CheckInput } from '../model/index.js';

type Rec = Record<string, unknown>;

function isRecord(v: unknown): v is Rec {
  return typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}
function rec(v: unknown): Rec | undefined {
  return isRecord(v) ? v : undefined;
}
function str(v: unknown): string | undefined {
  return typeof v === 'string' && v !== '' ? v : undefined;
}
/** int64 as a number: Long objects (toNumber), numeric strings, numbers. */
function int64(v: unknown): number | undefined {
  if (typeof v === 'number') return v;
  if (typeof v === 'string' && /^-?\d+$/.test(v)) return Number(v);
  if (isRecord(v) && typeof v['toNumber'] === 'function') return (v['toNumber'] as () => number).call(v);
  return undefined;
}

/** Unwraps a google.protobuf.Value (message or plain object form) to JSON. */
export function unwrapValue(v: unknown): unknown {
  if (!isRecord(v)) return null;
  const kind =
    typeof v['kind'] === 'string' ? v['kind'] : Object.keys(v).find((k) => k.endsWith('_value') || k.endsWith('Value'));
  if (kind === undefined) return null;
  const inner = v[kind];
  switch (kind) {
    case 'null_value':
    case 'nullValue':
      return null;
    case 'number_value':
    case 'numberValue':
      return typeof inner === 'number' ? inner : Number(inner);
    case 'string_value':
    case 'stringValue':
      return typeof inner === 'string' ? inner : '';
    case 'bool_value':
    case 'boolValue':
      return inner === true;
    case 'struct_value':
    case 'structValue':
      return unwrapStruct(inner);
    case 'list_value':
    case 'listValue': {
      const values = isRecord(inner) && Array.isArray(inner['values']) ? inner['values'] : [];
      return values.map(unwrapValue);
    }
    default:
      return null;
  }
}

/** Unwraps a google.protobuf.Struct to a plain object. */
export function unwrapStruct(s: unknown): Rec {
  const out = Object.create(null) as Rec; // as the wire decoder: a `__proto__` key is a key
  const fields = rec(rec(s)?.['fields']);
  if (!fields) return out;
  for (const k of Object.keys(fields)) out[k] = unwrapValue(fields[k]);
  return out;
}

function stringMap(v: unknown): Record<string, string> | undefined {
  const r = rec(v);
  if (!r) return undefined;
  const out: Record<string, string> = {};
  for (const k of Object.keys(r)) {
    const x = r[k];
    if (typeof x === 'string') out[k] = x;
  }
  return out;
}

/** True when every value is a string (protobuf map<string,string> guarantees it; plain objects are checked). */
function allStrings(r: Rec): r is Record<string, string> {
  for (const k in r) if (typeof r[k] !== 'string') return false;
  return true;
}

/** Header names lower-cased (RFC 9110 §5.1); names that differ only in case combined with a comma (§5.3). */
function lowerCased(h: Record<string, string>): Record<string, string> {
  if (Object.keys(h).every((k) => k === k.toLowerCase())) return h;
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h)) {
    const l = k.toLowerCase();
    out[l] = out[l] !== undefined ? `${out[l]},${v}` : v;
  }
  return out;
}

function headersOf(http: Rec): Record<string, string> {
  const raw = rec(http['headers']);
  // The decoded map is a fresh object per request: use it as is rather than copying it.
  if (raw && allStrings(raw) && Object.keys(raw).length > 0) return lowerCased(raw);
  const h = stringMap(http['headers']);
  if (h && Object.keys(h).length > 0) return lowerCased(h);
  const list = rec(http['header_map'])?.['headers'];
  const out: Record<string, string> = {};
  if (!Array.isArray(list)) return h ?? out;
  for (const item of list as unknown[]) {
    const e = rec(item);
    const key = typeof e?.['key'] === 'string' ? e['key'].toLowerCase() : undefined;
    if (!e || !key) continue;
    const raw = e['raw_value'];
    const value = str(e['value']) ?? (raw instanceof Uint8Array ? Buffer.from(raw).toString('utf8') : '');
    out[key] = out[key] !== undefined ? `${out[key]},${value}` : value;
  }
  return out;
}

function peer(v: unknown): NonNullable<CheckInput['attributes']['source']> | undefined {
  const p = rec(v);
  if (!p) return undefined;
  const sock = rec(rec(p['address'])?.['socket_address']);
  const address = str(sock?.['address']);
  const port = typeof sock?.['port_value'] === 'number' ? sock['port_value'] : undefined;
  const principal = str(p['principal']);
  // Built by assignment: conditional spreads allocate an intermediate object per field.
  const out: NonNullable<CheckInput['attributes']['source']> = {};
  if (principal !== undefined) out.principal = principal;
  if (sock) {
    const socket: { address?: string; port_value?: number } = {};
    if (address !== undefined) socket.address = address;
    if (port !== undefined) socket.port_value = port;
    out.address = { socket_address: socket };
  }
  return out;
}

/** Maps a decoded CheckRequest. Returns an error code (never request content) on a request without attributes. */
export function fromGrpcCheckRequest(raw: unknown): { ok: true; input: CheckInput } | { ok: false; error: string } {
  const attrs = rec(rec(raw)?.['attributes']);
  if (!attrs) return { ok: false, error: 'check-request-without-attributes' };
  const out: CheckInput['attributes'] = {};
  const source = peer(attrs['source']);
  if (source) out.source = source;
  const destination = peer(attrs['destination']);
  if (destination) out.destination = destination;

  const request = rec(attrs['request']);
  if (request) {
    const r: NonNullable<CheckInput['attributes']['request']> = {};
    const time = rec(request['time']);
    const seconds = int64(time?.['seconds']);
    if (time && seconds !== undefined)
      r.time = { seconds, nanos: typeof time['nanos'] === 'number' ? time['nanos'] : 0 };
    const http = rec(request['http']);
    if (http) {
      const rawBody = http['raw_body'];
      const body =
        str(http['body']) ??
        (rawBody instanceof Uint8Array && rawBody.length > 0
          ? Buffer.from(rawBody.buffer, rawBody.byteOffset, rawBody.byteLength).toString('utf8')
          : undefined);
      const size = int64(http['size']);
      const h: NonNullable<typeof r.http> = { headers: headersOf(http) };
      for (const k of ['id', 'method', 'path', 'host', 'scheme', 'protocol'] as const) {
        const v = str(http[k]);
        if (v !== undefined) h[k] = v;
      }
      if (body !== undefined) h.body = body;
      if (size !== undefined) h.size = size;
      r.http = h;
    }
    out.request = r;
  }
  const ext = stringMap(attrs['context_extensions']);
  if (ext) out.context_extensions = ext;
  const fm = rec(rec(attrs['metadata_context'])?.['filter_metadata']);
  if (fm) {
    const unwrapped: Rec = {};
    for (const ns of Object.keys(fm)) unwrapped[ns] = unwrapStruct(fm[ns]);
    out.metadata_context = { filter_metadata: unwrapped };
  }
  return { ok: true, input: { attributes: out } };
}
