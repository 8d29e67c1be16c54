/**
 * Edge in, on the Check path: CheckRequest protobuf bytes -> CheckInput, in one pass over the wire format.
 *
 * The same mapping as decoding with protobufjs and then `fromGrpcCheckRequest` (check-request.ts), which stays the
 * reference: test/transport/check-request-wire.test.ts holds the two equal over the example requests, the FHIR
 * request-model table, Struct metadata of every Value kind, `header_map`, `raw_body`, unknown fields and
 * field-order permutations. Going through protobufjs builds a message object for every nested message, a Long per
 * int64 and a Value object per Struct field, only for the mapping to read a dozen fields of them, and that decode and
 * its garbage were the largest item of the Check path (docs/performance.md). Here only the fields phiguard reads are
 * materialized; every other
 * field is skipped by wire type.
 *
 * Wire format: protobuf encoding (protobuf.dev/programming-guides/encoding): tag = field << 3 | wire type; wire
 * types 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32 (3/4, groups, are not valid in proto3). Field numbers
 * come from envoy/service/auth/v3/{external_auth,attribute_context}.proto, envoy/config/core/v3/{address,base}.proto
 * and google/protobuf/{struct,timestamp}.proto.
 *
 * Fail closed: a truncated message, a length past its parent's end, a known field with the wrong wire type, a
 * varint longer than 10 bytes or nesting deeper than MAX_DEPTH is `ok: false` with an error code (never request
 * content); the caller denies. Decoding never throws.
 */
import { isPhiguardError, PhiguardError, type CheckInput } from '../model/index.js';

/**
 * Message nesting bound: protoc's default recursion limit (CodedInputStream), which protobufjs applies as well
 * (CheckRequest is depth 0, a jwt_authn Struct depth 3). A hostile Struct must not exhaust the stack.
 */
const MAX_DEPTH = 100;

/** A malformed message: the decoder's one error, caught at its top and returned as a value (never thrown out). */
const wireError = (reason: string): PhiguardError => new PhiguardError('wire', reason);

type Rec = Record<string, unknown>;
type Peer = NonNullable<CheckInput['attributes']['source']>;
type Request = NonNullable<CheckInput['attributes']['request']>;
type Http = NonNullable<Request['http']>;

/** A cursor over one buffer. `end` is the end of the message being read. */
class Reader {
  pos = 0;
  constructor(readonly buf: Buffer) {}

  varint(): number {
    const b = this.buf;
    let x = 0;
    let mul = 1;
    for (let i = 0; i < 10; i++) {
      if (this.pos >= b.length) throw wireError('truncated');
      const byte = b[this.pos++] ?? 0;
      // Number arithmetic, not 32-bit shifts: int64 values (size, Timestamp seconds) keep 53 bits exactly.
      x += (byte & 0x7f) * mul;
      if (byte < 0x80) return x;
      mul *= 128;
    }
    throw wireError('varint-too-long');
  }

  /** A length prefix; returns the end offset of the delimited bytes, checked against the parent's end. */
  delimited(end: number): number {
    const len = this.varint();
    const to = this.pos + len;
    if (to > end) throw wireError('length-out-of-bounds');
    return to;
  }

  string(end: number): string {
    const to = this.delimited(end);
    const s = this.buf.toString('utf8', this.pos, to);
    this.pos = to;
    return s;
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case 0:
        this.varint();
        return;
      case 1:
        this.pos += 8;
        break;
      case 2:
        this.pos = this.delimited(end);
        return;
      case 5:
        this.pos += 4;
        break;
      default:
        throw wireError('invalid-wire-type');
    }
    if (this.pos > end) throw wireError('truncated');
  }
}

/** A varint read as an unsigned number, as int64 (two's complement above 2^63; exact within 53 bits). */
function int64(x: number): number {
  return x >= 9223372036854775808 ? x - 18446744073709551616 : x;
}

function expectWire(actual: number, expected: number): void {
  if (actual !== expected) throw wireError('wrong-wire-type');
}

/**
 * String fields 1..n of the message ending at `to`, into the shared `fields` (fields above n are skipped). One
 * scratch array for every call: decoding is synchronous, and entries are read once each.
 */
const fields = ['', '', ''];
function stringFields(r: Reader, to: number, n: number): void {
  fields.fill('');
  while (r.pos < to) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f >= 1 && f <= n) {
      expectWire(tag & 7, 2);
      fields[f - 1] = r.string(to);
    } else r.skip(tag & 7, to);
  }
}

/** map<string, string> entry (key = 1, value = 2), into `out`. */
function mapEntry(r: Reader, end: number, out: Record<string, string>): void {
  stringFields(r, r.delimited(end), 2);
  out[fields[0] ?? ''] = fields[1] ?? '';
}

/**
 * A `headers` map entry, into `out` under its lower-cased name. Field names are case-insensitive (RFC 9110 §5.1) and
 * HTTP/2 sends them lower-case, as Envoy does; a caller that does not must not get a credential past the headers
 * hidden from policy. Names that differ only in case are combined with a comma (RFC 9110 §5.3).
 */
function headerEntry(r: Reader, end: number, out: Record<string, string>): void {
  stringFields(r, r.delimited(end), 2);
  addHeader(out, fields[0] ?? '', fields[1] ?? '');
}

function addHeader(out: Record<string, string>, name: string, value: string): void {
  const k = name.toLowerCase();
  const prev = out[k];
  out[k] = prev !== undefined ? `${prev},${value}` : value;
}

/** google.protobuf.Value -> JSON (null for an empty Value, as the reference mapping). */
function value(r: Reader, to: number, depth: number): unknown {
  if (depth > MAX_DEPTH) throw wireError('too-deep');
  let v: unknown = null;
  while (r.pos < to) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1: // null_value
        expectWire(wt, 0);
        r.varint();
        v = null;
        break;
      case 2: // number_value (double)
        expectWire(wt, 1);
        if (r.pos + 8 > to) throw wireError('truncated');
        v = r.buf.readDoubleLE(r.pos);
        r.pos += 8;
        break;
      case 3: // string_value
        expectWire(wt, 2);
        v = r.string(to);
        break;
      case 4: // bool_value
        expectWire(wt, 0);
        v = r.varint() !== 0;
        break;
      case 5: // struct_value
        expectWire(wt, 2);
        v = struct(r, r.delimited(to), depth + 1);
        break;
      case 6: // list_value
        expectWire(wt, 2);
        v = list(r, r.delimited(to), depth + 1);
        break;
      default:
        r.skip(wt, to);
    }
  }
  return v;
}

/** google.protobuf.ListValue (repeated Value values = 1). */
function list(r: Reader, to: number, depth: number): unknown[] {
  if (depth > MAX_DEPTH) throw wireError('too-deep');
  const out: unknown[] = [];
  while (r.pos < to) {
    const tag = r.varint();
    if (tag >>> 3 === 1) {
      expectWire(tag & 7, 2);
      out.push(value(r, r.delimited(to), depth + 1));
    } else r.skip(tag & 7, to);
  }
  return out;
}

/** A string field (wire type 2). */
function stringField(r: Reader, wireType: number, to: number): string {
  expectWire(wireType, 2);
  return r.string(to);
}

/** A nested message field (wire type 2): the end offset of its bytes. */
function messageField(r: Reader, wireType: number, to: number): number {
  expectWire(wireType, 2);
  return r.delimited(to);
}

/**
 * The next occurrence of repeated message field 1 in the message ending at `to`, skipping every other field: the
 * end offset of its bytes, or -1 when the message has no more. (A loop over it allocates nothing per field.)
 */
function nextFieldOne(r: Reader, to: number): number {
  while (r.pos < to) {
    const tag = r.varint();
    if (tag >>> 3 === 1) return messageField(r, tag & 7, to);
    r.skip(tag & 7, to);
  }
  return -1;
}

/**
 * A map field whose entries are messages (map entry: key = 1, value = 2), as field 1 of the message ending at `to`.
 * An entry without a value gets `absent()`.
 */
function messageMap<V>(r: Reader, to: number, absent: () => V, read: (end: number) => V): Record<string, V> {
  // Without a prototype: a key named `__proto__` (a Struct from a token's claims) is a key, not the map's prototype.
  const out = Object.create(null) as Record<string, V>;
  for (let entryEnd = nextFieldOne(r, to); entryEnd !== -1; entryEnd = nextFieldOne(r, to)) {
    let key = '';
    let v: V | undefined;
    while (r.pos < entryEnd) {
      const tag = r.varint();
      switch (tag >>> 3) {
        case 1:
          key = stringField(r, tag & 7, entryEnd);
          break;
        case 2:
          v = read(messageField(r, tag & 7, entryEnd));
          break;
        default:
          r.skip(tag & 7, entryEnd);
      }
    }
    out[key] = v ?? absent();
  }
  return out;
}

/** google.protobuf.Struct (map<string, Value> fields = 1). */
function struct(r: Reader, to: number, depth: number): Rec {
  if (depth > MAX_DEPTH) throw wireError('too-deep');
  return messageMap<unknown>(
    r,
    to,
    () => null,
    (end) => value(r, end, depth + 1),
  );
}

/** envoy.config.core.v3.Metadata: filter_metadata = 1 (map<string, Struct>). */
function metadata(r: Reader, to: number): Rec {
  return messageMap<Rec>(
    r,
    to,
    () => ({}),
    (end) => struct(r, end, 3),
  );
}

/** SocketAddress: address = 2, port_value = 3. */
function socketAddress(r: Reader, to: number): { address?: string; port_value?: number } {
  const out: { address?: string; port_value?: number } = {};
  let address = '';
  let port: number | undefined;
  while (r.pos < to) {
    const tag = r.varint();
    const wt = tag & 7;
    if (tag >>> 3 === 2) address = stringField(r, wt, to);
    else if (tag >>> 3 !== 3) r.skip(wt, to);
    else {
      expectWire(wt, 0);
      port = r.varint() % 4294967296;
    }
  }
  if (address !== '') out.address = address;
  if (port !== undefined) out.port_value = port;
  return out;
}

/** AttributeContext.Peer: address = 1 (Address, whose socket_address = 1), principal = 4. */
function peer(r: Reader, to: number): Peer {
  let principal = '';
  let socket: { address?: string; port_value?: number } | undefined;
  while (r.pos < to) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 4) {
      principal = stringField(r, tag & 7, to);
    } else if (f === 1) {
      const addrEnd = messageField(r, tag & 7, to);
      socket = undefined;
      for (let end = nextFieldOne(r, addrEnd); end !== -1; end = nextFieldOne(r, addrEnd))
        socket = socketAddress(r, end);
    } else {
      r.skip(tag & 7, to);
    }
  }
  const out: Peer = {};
  if (principal !== '') out.principal = principal;
  if (socket) out.address = { socket_address: socket };
  return out;
}

/** HeaderMap (repeated HeaderValue headers = 1; HeaderValue: key = 1, value = 2, raw_value = 3). */
function headerMap(r: Reader, to: number, out: Record<string, string>): void {
  for (let end = nextFieldOne(r, to); end !== -1; end = nextFieldOne(r, to)) {
    stringFields(r, end, 3);
    const [key = '', val = '', raw = ''] = fields;
    if (key === '') continue;
    addHeader(out, key, val !== '' ? val : raw);
  }
}

/** AttributeContext.HttpRequest. */
/** HttpRequest's string fields by field number: id 1, method 2, path 4, host 5, scheme 6, protocol 10, body 11. */
const HTTP_STRINGS: Readonly<Record<number, number>> = { 1: 0, 2: 1, 4: 2, 5: 3, 6: 4, 10: 5, 11: 6 };

function httpRequest(r: Reader, to: number): Http {
  const headers: Record<string, string> = {};
  const fromMap: Record<string, string> = {};
  // id, method, path, host, scheme, protocol, body (HTTP_STRINGS).
  const strs = ['', '', '', '', '', '', ''];
  let rawStart = 0;
  let rawEnd = 0;
  let size = 0;
  let hasHeaders = false;
  while (r.pos < to) {
    const tag = r.varint();
    const wt = tag & 7;
    const f = tag >>> 3;
    const slot = HTTP_STRINGS[f];
    if (slot !== undefined) {
      strs[slot] = stringField(r, wt, to);
    } else if (f === 3) {
      expectWire(wt, 2);
      headerEntry(r, to, headers);
      hasHeaders = true;
    } else if (f === 9) {
      expectWire(wt, 0);
      size = int64(r.varint());
    } else if (f === 12) {
      rawEnd = messageField(r, wt, to);
      rawStart = r.pos;
      r.pos = rawEnd;
    } else if (f === 13) {
      headerMap(r, messageField(r, wt, to), fromMap);
    } else {
      r.skip(wt, to);
    }
  }
  const [id = '', method = '', path = '', host = '', scheme = '', protocol = '', body = ''] = strs;
  // Envoy sends `headers`; newer Envoy may send `header_map` instead (attribute_context.proto).
  const h: Http = { headers: hasHeaders ? headers : fromMap };
  if (id !== '') h.id = id;
  if (method !== '') h.method = method;
  if (path !== '') h.path = path;
  if (host !== '') h.host = host;
  if (scheme !== '') h.scheme = scheme;
  if (protocol !== '') h.protocol = protocol;
  // `body` (UTF-8) or, with pack_as_bytes, `raw_body` (ext_authz.proto BufferSettings).
  if (body !== '') h.body = body;
  else if (rawEnd > rawStart) h.body = r.buf.toString('utf8', rawStart, rawEnd);
  h.size = size;
  return h;
}

/** AttributeContext.Request: time = 1 (Timestamp: seconds = 1, nanos = 2), http = 2. */
function request(r: Reader, to: number): Request {
  const out: Request = {};
  while (r.pos < to) {
    const tag = r.varint();
    const f = tag >>> 3;
    if (f === 1) {
      expectWire(tag & 7, 2);
      const tEnd = r.delimited(to);
      let seconds = 0;
      let nanos = 0;
      while (r.pos < tEnd) {
        const t = r.varint();
        const tf = t >>> 3;
        if (tf === 1) {
          expectWire(t & 7, 0);
          seconds = int64(r.varint());
        } else if (tf === 2) {
          expectWire(t & 7, 0);
          nanos = r.varint() | 0;
        } else r.skip(t & 7, tEnd);
      }
      out.time = { seconds, nanos };
    } else if (f === 2) {
      expectWire(tag & 7, 2);
      out.http = httpRequest(r, r.delimited(to));
    } else r.skip(tag & 7, to);
  }
  return out;
}

/** AttributeContext: source = 1, destination = 2, request = 4, context_extensions = 10, metadata_context = 11. */
function attributeContext(r: Reader, to: number): CheckInput['attributes'] {
  const out: CheckInput['attributes'] = {};
  const ext: Record<string, string> = {};
  while (r.pos < to) {
    const tag = r.varint();
    const wt = tag & 7;
    switch (tag >>> 3) {
      case 1:
        out.source = peer(r, messageField(r, wt, to));
        break;
      case 2:
        out.destination = peer(r, messageField(r, wt, to));
        break;
      case 4:
        out.request = request(r, messageField(r, wt, to));
        break;
      case 10:
        expectWire(wt, 2);
        mapEntry(r, to, ext);
        break;
      case 11:
        out.metadata_context = { filter_metadata: metadata(r, messageField(r, wt, to)) };
        break;
      default:
        r.skip(wt, to);
    }
  }
  out.context_extensions = ext;
  return out;
}

export type DecodedCheck = { ok: true; input: CheckInput } | { ok: false; error: string };

/** Decodes CheckRequest bytes (CheckRequest.attributes = 1). Never throws. */
export function decodeCheckRequest(bytes: Buffer): DecodedCheck {
  const r = new Reader(bytes);
  try {
    let attributes: CheckInput['attributes'] | undefined;
    while (r.pos < bytes.length) {
      const tag = r.varint();
      if (tag >>> 3 === 1) {
        expectWire(tag & 7, 2);
        attributes = attributeContext(r, r.delimited(bytes.length));
      } else r.skip(tag & 7, bytes.length);
    }
    if (!attributes) return { ok: false, error: 'check-request-without-attributes' };
    return { ok: true, input: { attributes } };
  } catch (e) {
    return {
      ok: false,
      error: isPhiguardError(e, 'wire') ? `malformed-check-request:${e.message}` : 'malformed-check-request',
    };
  }
}
