// envoy.service.auth.v3 CheckRequest out and CheckResponse in, as protobuf wire bytes (external_auth.proto,
// attribute_context.proto). Only the fields the filter sends and reads; unknown fields are skipped.

class Writer {
  bytes: u8[] = [];
  varint(v: u64): void {
    while (v >= 0x80) {
      this.bytes.push(<u8>((v & 0x7f) | 0x80));
      v >>= 7;
    }
    this.bytes.push(<u8>v);
  }
  tag(field: u32, wire: u32): void {
    this.varint(((<u64>field) << 3) | wire);
  }
  bytesField(field: u32, b: u8[]): void {
    this.tag(field, 2);
    this.varint(b.length);
    for (let i = 0; i < b.length; i++) this.bytes.push(b[i]);
  }
  stringField(field: u32, s: string): void {
    const buf = Uint8Array.wrap(String.UTF8.encode(s));
    this.tag(field, 2);
    this.varint(buf.length);
    for (let i = 0; i < buf.length; i++) this.bytes.push(buf[i]);
  }
  toBuffer(): ArrayBuffer {
    const out = new Uint8Array(this.bytes.length);
    for (let i = 0; i < this.bytes.length; i++) out[i] = this.bytes[i];
    return out.buffer;
  }
}

/** A CheckRequest: source.principal, request.http {method, headers, path, host}. */
export function encodeCheckRequest(
  principal: string,
  method: string,
  path: string,
  host: string,
  headerKeys: string[],
  headerValues: string[],
): ArrayBuffer {
  const http = new Writer();
  http.stringField(2, method);
  for (let i = 0; i < headerKeys.length; i++) {
    const entry = new Writer();
    entry.stringField(1, headerKeys[i]);
    entry.stringField(2, headerValues[i]);
    http.bytesField(3, entry.bytes);
  }
  http.stringField(4, path);
  http.stringField(5, host);
  const request = new Writer();
  request.bytesField(2, http.bytes);
  const source = new Writer();
  source.stringField(4, principal);
  const attributes = new Writer();
  attributes.bytesField(1, source.bytes);
  attributes.bytesField(4, request.bytes);
  const check = new Writer();
  check.bytesField(1, attributes.bytes);
  return check.toBuffer();
}

/** envoy.config.core.v3.GrpcService { envoy_grpc { cluster_name } }, the `service` argument of proxy_grpc_call. */
export function encodeGrpcService(cluster: string): ArrayBuffer {
  const envoyGrpc = new Writer();
  envoyGrpc.stringField(1, cluster);
  const service = new Writer();
  service.bytesField(1, envoyGrpc.bytes);
  return service.toBuffer();
}

class Reader {
  pos: i32;
  failed: bool = false;
  constructor(
    public buf: Uint8Array,
    public start: i32,
    public end: i32,
  ) {
    this.pos = start;
  }
  done(): bool {
    return this.failed || this.pos >= this.end;
  }
  varint(): u64 {
    let v: u64 = 0;
    let shift: u64 = 0;
    while (true) {
      if (this.pos >= this.end || shift > 63) {
        this.failed = true;
        return 0;
      }
      const b = this.buf[this.pos++];
      v |= (<u64>(b & 0x7f)) << shift;
      if ((b & 0x80) == 0) return v;
      shift += 7;
    }
    return 0;
  }
  /** A length-delimited field: returns its [start, end) in `sub` or fails. */
  sub(): Reader {
    const len = this.varint();
    if (this.failed || len > <u64>(this.end - this.pos)) {
      this.failed = true;
      return new Reader(this.buf, this.end, this.end);
    }
    const r = new Reader(this.buf, this.pos, this.pos + <i32>len);
    this.pos += <i32>len;
    return r;
  }
  string(): string {
    const r = this.sub();
    if (this.failed) return '';
    return String.UTF8.decode(this.buf.buffer.slice(r.start, r.end));
  }
  skip(wire: u32): void {
    if (wire == 0) this.varint();
    else if (wire == 1) this.advance(8);
    else if (wire == 2) this.sub();
    else if (wire == 5) this.advance(4);
    else this.failed = true;
  }
  advance(n: i32): void {
    if (this.end - this.pos < n) this.failed = true;
    else this.pos += n;
  }
}

export class CheckResult {
  valid: bool = false;
  code: u32 = 2;
  httpStatus: u32 = 0;
  body: string = '';
  headerKeys: string[] = [];
  headerValues: string[] = [];
  removeHeaders: string[] = [];
}

function readHeaderOption(r: Reader, out: CheckResult): void {
  while (!r.done()) {
    const t = <u32>r.varint();
    if (r.failed) return;
    if (t >> 3 == 1 && (t & 7) == 2) {
      const hv = r.sub();
      let key = '';
      let value = '';
      while (!hv.done()) {
        const ht = <u32>hv.varint();
        if (hv.failed) break;
        if (ht >> 3 == 1 && (ht & 7) == 2) key = hv.string();
        else if (ht >> 3 == 2 && (ht & 7) == 2) value = hv.string();
        else hv.skip(ht & 7);
      }
      if (hv.failed) r.failed = true;
      out.headerKeys.push(key);
      out.headerValues.push(value);
    } else r.skip(t & 7);
  }
}

function readHttpResponse(r: Reader, out: CheckResult, denied: bool): void {
  while (!r.done()) {
    const t = <u32>r.varint();
    if (r.failed) return;
    const field = t >> 3;
    const wire = t & 7;
    if (denied && field == 1 && wire == 2) {
      const st = r.sub();
      while (!st.done()) {
        const s = <u32>st.varint();
        if (s >> 3 == 1 && (s & 7) == 0) out.httpStatus = <u32>st.varint();
        else st.skip(s & 7);
      }
      if (st.failed) r.failed = true;
    } else if (field == 2 && wire == 2) {
      const h = r.sub();
      readHeaderOption(h, out);
      if (h.failed) r.failed = true;
    } else if (denied && field == 3 && wire == 2) {
      out.body = r.string();
    } else if (!denied && field == 5 && wire == 2) {
      out.removeHeaders.push(r.string());
    } else r.skip(wire);
  }
}

/** Reads a CheckResponse; `valid` is false when the bytes are not one. */
export function decodeCheckResponse(bytes: ArrayBuffer): CheckResult {
  const buf = Uint8Array.wrap(bytes);
  const r = new Reader(buf, 0, buf.length);
  const out = new CheckResult();
  let sawStatus = false;
  while (!r.done()) {
    const t = <u32>r.varint();
    if (r.failed) break;
    const field = t >> 3;
    const wire = t & 7;
    if (field == 1 && wire == 2) {
      const st = r.sub();
      out.code = 0;
      while (!st.done()) {
        const s = <u32>st.varint();
        if (s >> 3 == 1 && (s & 7) == 0) out.code = <u32>st.varint();
        else st.skip(s & 7);
      }
      if (st.failed) r.failed = true;
      sawStatus = true;
    } else if ((field == 2 || field == 3) && wire == 2) {
      const h = r.sub();
      readHttpResponse(h, out, field == 2);
      if (h.failed) r.failed = true;
    } else r.skip(wire);
  }
  out.valid = !r.failed && sawStatus;
  return out;
}
