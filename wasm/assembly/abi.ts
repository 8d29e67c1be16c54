// The proxy-wasm ABI 0.2.1 host functions this filter imports, and small helpers over them. Signatures follow
// proxy-wasm/spec (abi-versions/v0.2.1) and, where the prose and the host differ, proxy-wasm-cpp-host
// (include/proxy-wasm/exports.h): every argument and result is an i32 `Word`, and proxy_grpc_call takes 12.

@external("env", "proxy_log")
declare function proxy_log(level: u32, ptr: usize, size: usize): u32;
@external("env", "proxy_get_property")
declare function proxy_get_property(pathPtr: usize, pathSize: usize, valuePtrPtr: usize, valueSizePtr: usize): u32;
@external("env", "proxy_set_property")
declare function proxy_set_property(keyPtr: usize, keySize: usize, valuePtr: usize, valueSize: usize): u32;
@external("env", "proxy_get_header_map_value")
declare function proxy_get_header_map_value(
  mapType: u32,
  keyPtr: usize,
  keySize: usize,
  valuePtrPtr: usize,
  valueSizePtr: usize,
): u32;
@external("env", "proxy_get_header_map_pairs")
declare function proxy_get_header_map_pairs(mapType: u32, ptrPtr: usize, sizePtr: usize): u32;
@external("env", "proxy_replace_header_map_value")
declare function proxy_replace_header_map_value(
  mapType: u32,
  keyPtr: usize,
  keySize: usize,
  valuePtr: usize,
  valueSize: usize,
): u32;
@external("env", "proxy_remove_header_map_value")
declare function proxy_remove_header_map_value(mapType: u32, keyPtr: usize, keySize: usize): u32;
@external("env", "proxy_get_buffer_bytes")
declare function proxy_get_buffer_bytes(bufferType: u32, start: u32, length: u32, ptrPtr: usize, sizePtr: usize): u32;
@external("env", "proxy_send_local_response")
declare function proxy_send_local_response(
  statusCode: u32,
  detailsPtr: usize,
  detailsSize: usize,
  bodyPtr: usize,
  bodySize: usize,
  headersPtr: usize,
  headersSize: usize,
  grpcStatus: i32,
): u32;
@external("env", "proxy_continue_stream")
declare function proxy_continue_stream(streamType: u32): u32;
@external("env", "proxy_grpc_call")
declare function proxy_grpc_call(
  servicePtr: usize,
  serviceSize: usize,
  serviceNamePtr: usize,
  serviceNameSize: usize,
  methodPtr: usize,
  methodSize: usize,
  metadataPtr: usize,
  metadataSize: usize,
  messagePtr: usize,
  messageSize: usize,
  timeoutMs: u32,
  tokenPtr: usize,
): u32;
@external("env", "proxy_set_effective_context")
declare function proxy_set_effective_context(contextId: u32): u32;
@external("env", "proxy_get_current_time_nanoseconds")
declare function proxy_get_current_time_nanoseconds(resultPtr: usize): u32;

export const OK: u32 = 0;
export const NOT_FOUND: u32 = 1;

export const MAP_REQUEST_HEADERS: u32 = 0;
export const BUFFER_GRPC_RECEIVE: u32 = 5;
export const BUFFER_PLUGIN_CONFIGURATION: u32 = 7;
export const STREAM_REQUEST: u32 = 0;

export const LOG_INFO: u32 = 2;
export const LOG_WARN: u32 = 3;

// Two words the host writes a (pointer, size) pair into.
const scratch = memory.data(8);

function bytesOf(s: string): ArrayBuffer {
  return String.UTF8.encode(s);
}

/** Takes ownership of host-allocated bytes (allocated through proxy_on_memory_allocate) as an ArrayBuffer. */
function takeHostBytes(): ArrayBuffer {
  const ptr = load<usize>(scratch);
  const size = load<u32>(scratch + 4);
  const out = new ArrayBuffer(<i32>size);
  if (size > 0) memory.copy(changetype<usize>(out), ptr, size);
  if (ptr != 0) heap.free(ptr);
  return out;
}

/** The host's wall clock, nanoseconds since the epoch (0 if the host does not answer). */
export function currentTimeNanos(): u64 {
  store<u64>(scratch, 0);
  if (proxy_get_current_time_nanoseconds(scratch) != OK) return 0;
  return load<u64>(scratch);
}

export function log(level: u32, message: string): void {
  const b = bytesOf(message);
  proxy_log(level, changetype<usize>(b), b.byteLength);
}

/** A property by its NUL-separated path (`connection\0uri_san_peer_certificate`), or null. */
export function getProperty(path: string): ArrayBuffer | null {
  const b = bytesOf(path);
  store<usize>(scratch, 0);
  store<u32>(scratch + 4, 0);
  if (proxy_get_property(changetype<usize>(b), b.byteLength, scratch, scratch + 4) != OK) return null;
  return takeHostBytes();
}

/** Writes filter state; Envoy stores it under `wasm.<key>` for access logs. */
export function setProperty(key: string, value: string): void {
  const k = bytesOf(key);
  const v = bytesOf(value);
  proxy_set_property(changetype<usize>(k), k.byteLength, changetype<usize>(v), v.byteLength);
}

/** The first value of a request header (Envoy returns only the first of duplicates), or null. */
export function getRequestHeader(name: string): ArrayBuffer | null {
  const b = bytesOf(name);
  store<usize>(scratch, 0);
  store<u32>(scratch + 4, 0);
  const r = proxy_get_header_map_value(MAP_REQUEST_HEADERS, changetype<usize>(b), b.byteLength, scratch, scratch + 4);
  if (r != OK) return null;
  return takeHostBytes();
}

/** All request headers as the serialized pairs of the ABI, or null. */
export function getRequestHeaderPairs(): ArrayBuffer | null {
  store<usize>(scratch, 0);
  store<u32>(scratch + 4, 0);
  if (proxy_get_header_map_pairs(MAP_REQUEST_HEADERS, scratch, scratch + 4) != OK) return null;
  return takeHostBytes();
}

export function replaceRequestHeader(name: string, value: string): void {
  const k = bytesOf(name);
  const v = bytesOf(value);
  proxy_replace_header_map_value(
    MAP_REQUEST_HEADERS,
    changetype<usize>(k),
    k.byteLength,
    changetype<usize>(v),
    v.byteLength,
  );
}

export function removeRequestHeader(name: string): void {
  const k = bytesOf(name);
  proxy_remove_header_map_value(MAP_REQUEST_HEADERS, changetype<usize>(k), k.byteLength);
}

export function getBuffer(bufferType: u32, size: u32): ArrayBuffer | null {
  store<usize>(scratch, 0);
  store<u32>(scratch + 4, 0);
  if (proxy_get_buffer_bytes(bufferType, 0, size, scratch, scratch + 4) != OK) return null;
  return takeHostBytes();
}

/** Serializes header pairs as the ABI does: count, (key size, value size) each, then each key and value NUL-ended. */
export function serializePairs(keys: string[], values: string[]): ArrayBuffer {
  const kb = new Array<ArrayBuffer>(keys.length);
  const vb = new Array<ArrayBuffer>(keys.length);
  let size = 4 + keys.length * 8;
  for (let i = 0; i < keys.length; i++) {
    kb[i] = bytesOf(keys[i]);
    vb[i] = bytesOf(values[i]);
    size += kb[i].byteLength + vb[i].byteLength + 2;
  }
  const out = new ArrayBuffer(size);
  const base = changetype<usize>(out);
  store<u32>(base, keys.length);
  let at = base + 4 + keys.length * 8;
  for (let i = 0; i < keys.length; i++) {
    store<u32>(base + 4 + i * 8, kb[i].byteLength);
    store<u32>(base + 8 + i * 8, vb[i].byteLength);
  }
  for (let i = 0; i < keys.length; i++) {
    memory.copy(at, changetype<usize>(kb[i]), kb[i].byteLength);
    at += kb[i].byteLength;
    store<u8>(at, 0);
    at += 1;
    memory.copy(at, changetype<usize>(vb[i]), vb[i].byteLength);
    at += vb[i].byteLength;
    store<u8>(at, 0);
    at += 1;
  }
  return out;
}

export function sendLocalResponse(status: u32, details: string, body: string, headers: ArrayBuffer): void {
  const d = bytesOf(details);
  const b = bytesOf(body);
  proxy_send_local_response(
    status,
    changetype<usize>(d),
    d.byteLength,
    changetype<usize>(b),
    b.byteLength,
    changetype<usize>(headers),
    headers.byteLength,
    -1,
  );
}

export function continueRequest(): void {
  proxy_continue_stream(STREAM_REQUEST);
}

export function setEffectiveContext(id: u32): void {
  proxy_set_effective_context(id);
}

/** Starts a unary gRPC call; returns its token, or 0 when the host refused it. */
export function grpcCall(
  service: ArrayBuffer,
  serviceName: string,
  method: string,
  message: ArrayBuffer,
  timeoutMs: u32,
): u32 {
  const sn = bytesOf(serviceName);
  const m = bytesOf(method);
  const md = serializePairs([], []);
  store<u32>(scratch, 0);
  const r = proxy_grpc_call(
    changetype<usize>(service),
    service.byteLength,
    changetype<usize>(sn),
    sn.byteLength,
    changetype<usize>(m),
    m.byteLength,
    changetype<usize>(md),
    md.byteLength,
    changetype<usize>(message),
    message.byteLength,
    timeoutMs,
    scratch,
  );
  if (r != OK) return 0;
  return load<u32>(scratch);
}
