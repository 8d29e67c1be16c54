/**
 * A proxy-wasm ABI 0.2.1 host in Node (`WebAssembly.instantiate`) for testing phiguard's filter without Envoy.
 *
 * It stands in for Envoy as proxy-wasm-cpp-host (include/proxy-wasm/exports.h, src/exports.cc, src/wasm.cc) and
 * Envoy's context implement the ABI, where the spec's prose (proxy-wasm/spec abi-versions/v0.2.1) and the host
 * differ:
 * - every host function is registered in module `env` under `proxy_<name>`; every argument and result is an i32
 *   `Word`, except the 64-bit metric values; `proxy_grpc_call` takes 12 arguments and `proxy_http_call` 10;
 * - a module that imports anything the host does not provide, or with another signature, is refused at load;
 * - property paths are NUL-separated tokens (`connection\0uri_san_peer_certificate`); a dotted path is not found;
 * - `proxy_get_header_map_value` returns the first of duplicate headers;
 * - host-to-module values are copied into memory the module allocates through `proxy_on_memory_allocate`;
 * - `proxy_set_property(key)` writes filter state under `wasm.<key>`;
 * - an http_call reply's body is buffer 4 (HttpCallResponseBody), a gRPC reply's message buffer 5, the plugin
 *   configuration buffer 7;
 * - a unary gRPC call ends in `proxy_on_grpc_receive` on success or `proxy_on_grpc_close(status)` on failure;
 * - `proxy_send_local_response` ends the stream with that response.
 *
 * It is a test double: no timers, no clusters, no real network of its own. Tests complete call-outs explicitly
 * (`completeGrpc`, `failGrpc`, `completeHttp`).
 */

/** The parts of the WebAssembly JS API the host uses (tsconfig's lib has no DOM, where its types live). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
}
interface WasmApi {
  instantiate(
    bytes: Uint8Array,
    imports: Record<string, Record<string, unknown>>,
  ): Promise<{ instance: { exports: Record<string, unknown> } }>;
}
const wasmApi = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;

/** WebAssembly value types by their binary code (core spec, binary/types.html). */
const VALUE_TYPES: Record<number, string> = { 0x7f: 'i32', 0x7e: 'i64', 0x7d: 'f32', 0x7c: 'f64' };

export interface FunctionSignature {
  params: string[];
  results: string[];
}

export interface ModuleSignatures {
  imports: Array<{ module: string; name: string; kind: number; signature?: FunctionSignature }>;
  exports: Map<string, FunctionSignature>;
}

/** The signature text `i32,i32:i32`. */
export function signatureText(s: FunctionSignature): string {
  return `${s.params.join(',')}:${s.results.join(',')}`;
}

const sig = (n: number, results = 1, at: Record<number, string> = {}): string =>
  `${Array.from({ length: n }, (_, i) => at[i] ?? 'i32').join(',')}:${results === 1 ? 'i32' : ''}`;

/**
 * Every host function Envoy registers for ABI 0.2.1 (exports.h FOR_ALL_HOST_FUNCTIONS plus continue_stream,
 * close_stream and get_log_level), module `env`, with its signature.
 */
export const ENVOY_HOST_FUNCTIONS: Readonly<Record<string, string>> = {
  proxy_log: sig(3),
  proxy_get_status: sig(3),
  proxy_set_property: sig(4),
  proxy_get_property: sig(4),
  proxy_send_local_response: sig(8),
  proxy_get_shared_data: sig(5),
  proxy_set_shared_data: sig(5),
  proxy_register_shared_queue: sig(3),
  proxy_resolve_shared_queue: sig(5),
  proxy_dequeue_shared_queue: sig(3),
  proxy_enqueue_shared_queue: sig(3),
  proxy_get_header_map_value: sig(5),
  proxy_add_header_map_value: sig(5),
  proxy_replace_header_map_value: sig(5),
  proxy_remove_header_map_value: sig(3),
  proxy_get_header_map_pairs: sig(3),
  proxy_set_header_map_pairs: sig(3),
  proxy_get_header_map_size: sig(2),
  proxy_get_buffer_status: sig(3),
  proxy_get_buffer_bytes: sig(5),
  proxy_set_buffer_bytes: sig(5),
  proxy_http_call: sig(10),
  proxy_grpc_call: sig(12),
  proxy_grpc_stream: sig(9),
  proxy_grpc_close: sig(1),
  proxy_grpc_cancel: sig(1),
  proxy_grpc_send: sig(4),
  proxy_set_tick_period_milliseconds: sig(1),
  proxy_get_current_time_nanoseconds: sig(1),
  proxy_define_metric: sig(4),
  proxy_increment_metric: sig(2, 1, { 1: 'i64' }),
  proxy_record_metric: sig(2, 1, { 1: 'i64' }),
  proxy_get_metric: sig(2),
  proxy_set_effective_context: sig(1),
  proxy_done: sig(0),
  proxy_call_foreign_function: sig(6),
  proxy_continue_stream: sig(1),
  proxy_close_stream: sig(1),
  proxy_get_log_level: sig(1),
};

/**
 * Every `proxy_on_*` name a host looks up (wasm.h FOR_ALL_MODULE_FUNCTIONS, wasm.cc getFunctions): a module
 * function by another name is never called.
 */
export const ENVOY_CALLBACK_NAMES: ReadonlySet<string> = new Set(
  [
    'validate_configuration',
    'on_vm_start',
    'on_configure',
    'on_tick',
    'on_context_create',
    'on_new_connection',
    'on_downstream_data',
    'on_upstream_data',
    'on_downstream_connection_close',
    'on_upstream_connection_close',
    'on_request_headers',
    'on_request_body',
    'on_request_trailers',
    'on_request_metadata',
    'on_response_headers',
    'on_response_body',
    'on_response_trailers',
    'on_response_metadata',
    'on_http_call_response',
    'on_grpc_receive',
    'on_grpc_close',
    'on_grpc_receive_initial_metadata',
    'on_grpc_receive_trailing_metadata',
    'on_queue_ready',
    'on_foreign_function',
    'on_done',
    'on_log',
    'on_delete',
    'on_memory_allocate',
  ].map((n) => `proxy_${n}`),
);

/** The module functions the host calls, with the signature it calls them with (wasm.h WasmCallVoid/Word<N>). */
export const ENVOY_MODULE_FUNCTIONS: Readonly<Record<string, string>> = {
  proxy_on_memory_allocate: sig(1),
  proxy_on_vm_start: sig(2),
  proxy_on_configure: sig(2),
  proxy_on_context_create: sig(2, 0),
  proxy_on_request_headers: sig(3),
  proxy_on_http_call_response: sig(5, 0),
  proxy_on_grpc_receive: sig(3, 0),
  proxy_on_grpc_close: sig(3, 0),
  proxy_on_grpc_receive_initial_metadata: sig(3, 0),
  proxy_on_grpc_receive_trailing_metadata: sig(3, 0),
  proxy_on_done: sig(1),
  proxy_on_log: sig(1, 0),
  proxy_on_delete: sig(1, 0),
};

class ByteReader {
  pos = 0;
  constructor(private readonly b: Uint8Array) {}
  byte(): number {
    const v = this.b[this.pos++];
    if (v === undefined) throw new Error('truncated wasm module');
    return v;
  }
  u32(): number {
    let result = 0;
    let shift = 0;
    for (;;) {
      const byte = this.byte();
      result |= (byte & 0x7f) << shift;
      if ((byte & 0x80) === 0) return result >>> 0;
      shift += 7;
    }
  }
  name(): string {
    const n = this.u32();
    const s = Buffer.from(this.b.subarray(this.pos, this.pos + n)).toString('utf8');
    this.pos += n;
    return s;
  }
}

/** Reads the type, import, function and export sections of a module (core spec, binary/modules.html). */
export function readModuleSignatures(bytes: Uint8Array): ModuleSignatures {
  const r = new ByteReader(bytes);
  r.pos = 8;
  const types: FunctionSignature[] = [];
  const out: ModuleSignatures = { imports: [], exports: new Map() };
  const funcTypes: number[] = [];
  const exportsRaw: Array<{ name: string; kind: number; index: number }> = [];
  while (r.pos < bytes.length) {
    const id = r.byte();
    const size = r.u32();
    const end = r.pos + size;
    if (id === 1) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        if (r.byte() !== 0x60) throw new Error('unsupported type form');
        const params = Array.from({ length: r.u32() }, () => VALUE_TYPES[r.byte()] ?? '?');
        const results = Array.from({ length: r.u32() }, () => VALUE_TYPES[r.byte()] ?? '?');
        types.push({ params, results });
      }
    } else if (id === 2) {
      const n = r.u32();
      for (let i = 0; i < n; i++) {
        const module = r.name();
        const name = r.name();
        const kind = r.byte();
        if (kind === 0) {
          const t = r.u32();
          funcTypes.push(t);
          const signature = types[t];
          out.imports.push(signature ? { module, name, kind, signature } : { module, name, kind });
        } else {
          out.imports.push({ module, name, kind });
          // table: reftype + limits; memory: limits; global: valtype + mut (binary/modules.html#import-section)
          if (kind === 1) r.byte();
          if (kind === 1 || kind === 2) {
            const flags = r.byte();
            r.u32();
            if (flags & 1) r.u32();
          } else if (kind === 3) {
            r.byte();
            r.byte();
          }
        }
      }
    } else if (id === 3) {
      const n = r.u32();
      for (let i = 0; i < n; i++) funcTypes.push(r.u32());
    } else if (id === 7) {
      const n = r.u32();
      for (let i = 0; i < n; i++) exportsRaw.push({ name: r.name(), kind: r.byte(), index: r.u32() });
    }
    r.pos = end;
  }
  for (const e of exportsRaw) {
    const t = e.kind === 0 ? types[funcTypes[e.index] ?? -1] : undefined;
    if (t) out.exports.set(e.name, t);
  }
  return out;
}

/**
 * What Envoy would refuse in this module: an import the host does not register (or with another signature), an
 * `env.abort` among them, a missing allocator or ABI version marker, or a module function with the wrong signature.
 */
export function abiMismatches(bytes: Uint8Array): string[] {
  const m = readModuleSignatures(bytes);
  const problems: string[] = [];
  for (const i of m.imports) {
    if (i.kind !== 0) {
      problems.push(`${i.module}.${i.name}: imports a non-function (kind ${i.kind})`);
      continue;
    }
    const want = i.module === 'env' ? ENVOY_HOST_FUNCTIONS[i.name] : undefined;
    const got = i.signature ? signatureText(i.signature) : '?';
    if (want === undefined) problems.push(`${i.module}.${i.name}: not provided by the host`);
    else if (want !== got) problems.push(`${i.module}.${i.name}: signature ${got}, host has ${want}`);
  }
  if (!m.exports.has('proxy_abi_version_0_2_1')) problems.push('no proxy_abi_version_0_2_1 export');
  for (const [name, want] of Object.entries(ENVOY_MODULE_FUNCTIONS)) {
    const got = m.exports.get(name);
    if (got !== undefined && signatureText(got) !== want)
      problems.push(`export ${name}: signature ${signatureText(got)}, host calls ${want}`);
  }
  if (!m.exports.has('proxy_on_memory_allocate') && !m.exports.has('malloc')) problems.push('no allocator export');
  for (const name of m.exports.keys())
    if (name.startsWith('proxy_on_') && !ENVOY_CALLBACK_NAMES.has(name))
      problems.push(`export ${name}: the host never calls it`);
  return problems;
}

/** WasmResult codes (proxy-wasm-cpp-host include/proxy-wasm/wasm_api_impl.h / spec). */
export const WASM_RESULT = { ok: 0, notFound: 1, badArgument: 2, internalFailure: 10, unimplemented: 12 } as const;

const BUFFER = { httpCallResponseBody: 4, grpcReceiveBuffer: 5, pluginConfiguration: 7 } as const;
const HEADER_MAP = { requestHeaders: 0, httpCallResponseHeaders: 6 } as const;

export type Header = readonly [name: string, value: string];

export interface LocalResponse {
  status: number;
  details: string;
  body: string;
  headers: Header[];
}

export interface GrpcCall {
  token: number;
  /** The `service` argument: a serialized envoy.config.core.v3.GrpcService, or a cluster name. */
  service: Uint8Array;
  serviceName: string;
  method: string;
  message: Uint8Array;
  timeoutMs: number;
}

export interface HttpCall {
  token: number;
  cluster: string;
  headers: Header[];
  body: Uint8Array;
  timeoutMs: number;
}

/** One HTTP stream as the filter saw it. */
export interface Stream {
  id: number;
  headers: Header[];
  /** Connection and request properties by NUL-separated path. */
  properties: ReadonlyMap<string, string>;
  /** Filter state the module wrote, by `wasm.<key>`. */
  filterState: Map<string, string>;
  /** The action `proxy_on_request_headers` returned: 0 Continue, 1 StopIteration. */
  action: number | undefined;
  localResponse: LocalResponse | undefined;
  continued: boolean;
}

export interface HostOptions {
  pluginConfiguration: string | Uint8Array;
  /** Refuse every gRPC call (a cluster that does not exist). */
  refuseGrpc?: boolean;
}

export interface ProxyWasmHost {
  /** Whether `proxy_on_configure` accepted the configuration. */
  configured: boolean;
  memory: WasmMemory;
  logs: Array<{ level: number; message: string }>;
  grpcCalls: Map<number, GrpcCall>;
  httpCalls: Map<number, HttpCall>;
  /**
   * Runs one request's headers through the filter; the stream stays open until `finish`. `endOfStream` false: a body
   * follows the headers (Envoy's `end_of_stream` argument; default true).
   */
  request(headers: Header[], properties?: Record<string, string>, endOfStream?: boolean): Stream;
  completeGrpc(token: number, response: Uint8Array): void;
  failGrpc(token: number, status: number): void;
  completeHttp(token: number, headers: Header[], body: Uint8Array): void;
  /** Ends a stream as Envoy does: on_done, on_log, on_delete. */
  finish(stream: Stream): void;
  /** Streams not yet finished. */
  openStreams(): number;
}

const ROOT_CONTEXT = 1;

/**
 * Instantiates a module the way Envoy would: refuses it when `abiMismatches` finds anything, creates the root
 * context, starts the VM and configures the plugin.
 * @throws when the module would not load in Envoy.
 */
export async function startHost(bytes: Uint8Array, options: HostOptions): Promise<ProxyWasmHost> {
  const problems = abiMismatches(bytes);
  if (problems.length > 0) throw new Error(`Envoy would refuse this module:\n${problems.join('\n')}`);
  const config =
    typeof options.pluginConfiguration === 'string'
      ? new Uint8Array(Buffer.from(options.pluginConfiguration, 'utf8'))
      : options.pluginConfiguration;

  const streams = new Map<number, Stream>();
  const grpcCalls = new Map<number, GrpcCall>();
  const httpCalls = new Map<number, HttpCall>();
  const logs: Array<{ level: number; message: string }> = [];
  let effective = ROOT_CONTEXT;
  let nextToken = 1;
  let nextContext = 2;
  /** Buffers readable during a callback. */
  let callbackBuffers = new Map<number, Uint8Array>();
  let callbackHeaders: Header[] = [];

  // Filled in after instantiation.
  let exports: Record<string, (...args: number[]) => number> = {};
  const vm = { memory: { buffer: new ArrayBuffer(0) } as WasmMemory };
  const view = (): DataView => new DataView(vm.memory.buffer);
  const bytesAt = (ptr: number, size: number): Uint8Array => {
    if (ptr + size > vm.memory.buffer.byteLength) throw new Error('invalid memory access');
    return new Uint8Array(vm.memory.buffer, ptr, size).slice();
  };
  const text = (ptr: number, size: number): string => Buffer.from(bytesAt(ptr, size)).toString('utf8');
  /** Copies bytes into module memory (allocated by the module) and writes the pointer and size. */
  const copyOut = (value: Uint8Array, ptrPtr: number, sizePtr: number): number => {
    const alloc = exports['proxy_on_memory_allocate'];
    if (!alloc) return WASM_RESULT.internalFailure;
    const ptr = value.length === 0 ? 0 : alloc(value.length) >>> 0;
    if (value.length > 0) new Uint8Array(vm.memory.buffer, ptr, value.length).set(value);
    view().setUint32(ptrPtr, ptr, true);
    view().setUint32(sizePtr, value.length, true);
    return WASM_RESULT.ok;
  };
  const stream = (): Stream | undefined => streams.get(effective);
  const headerMap = (type: number): Header[] | undefined => {
    if (type === HEADER_MAP.requestHeaders) return stream()?.headers;
    if (type === HEADER_MAP.httpCallResponseHeaders) return callbackHeaders;
    return undefined;
  };

  const notImplemented = (name: string) => (): number => {
    throw new Error(`${name} is not implemented in the test host`);
  };
  const env: Record<string, (...args: never[]) => number> = {};
  for (const name of Object.keys(ENVOY_HOST_FUNCTIONS)) env[name] = notImplemented(name);

  Object.assign(env, {
    /** The wall clock in nanoseconds since the epoch (Envoy's time source), as a u64 at `ptr`. */
    proxy_get_current_time_nanoseconds(ptr: number): number {
      const ns = BigInt(Date.now()) * 1_000_000n + (process.hrtime.bigint() % 1_000_000n);
      view().setBigUint64(ptr, ns, true);
      return WASM_RESULT.ok;
    },
    proxy_log(level: number, ptr: number, size: number): number {
      logs.push({ level, message: text(ptr, size) });
      return WASM_RESULT.ok;
    },
    proxy_get_property(pathPtr: number, pathSize: number, valuePtrPtr: number, valueSizePtr: number): number {
      const value = stream()?.properties.get(text(pathPtr, pathSize));
      if (value === undefined) return WASM_RESULT.notFound;
      return copyOut(new Uint8Array(Buffer.from(value, 'utf8')), valuePtrPtr, valueSizePtr);
    },
    proxy_set_property(keyPtr: number, keySize: number, valuePtr: number, valueSize: number): number {
      const s = stream();
      if (!s) return WASM_RESULT.notFound;
      s.filterState.set(`wasm.${text(keyPtr, keySize)}`, text(valuePtr, valueSize));
      return WASM_RESULT.ok;
    },
    proxy_get_header_map_value(type: number, kp: number, ks: number, vpp: number, vsp: number): number {
      const map = headerMap(type);
      if (!map) return WASM_RESULT.badArgument;
      const key = text(kp, ks).toLowerCase();
      // Envoy returns the first value of a header that appears more than once.
      const found = map.find(([k]) => k === key);
      if (!found) return WASM_RESULT.notFound;
      return copyOut(new Uint8Array(Buffer.from(found[1], 'utf8')), vpp, vsp);
    },
    proxy_get_header_map_pairs(type: number, ptrPtr: number, sizePtr: number): number {
      const map = headerMap(type);
      if (!map) return WASM_RESULT.badArgument;
      return copyOut(serializePairs(map), ptrPtr, sizePtr);
    },
    proxy_replace_header_map_value(type: number, kp: number, ks: number, vp: number, vs: number): number {
      const map = headerMap(type);
      if (!map) return WASM_RESULT.badArgument;
      const key = text(kp, ks).toLowerCase();
      const rest = map.filter(([k]) => k !== key);
      map.length = 0;
      map.push(...rest, [key, text(vp, vs)]);
      return WASM_RESULT.ok;
    },
    proxy_remove_header_map_value(type: number, kp: number, ks: number): number {
      const map = headerMap(type);
      if (!map) return WASM_RESULT.badArgument;
      const key = text(kp, ks).toLowerCase();
      const rest = map.filter(([k]) => k !== key);
      map.length = 0;
      map.push(...rest);
      return WASM_RESULT.ok;
    },
    proxy_get_buffer_bytes(type: number, start: number, length: number, ptrPtr: number, sizePtr: number): number {
      const buffer = type === BUFFER.pluginConfiguration ? config : callbackBuffers.get(type);
      if (buffer === undefined) return WASM_RESULT.notFound;
      return copyOut(buffer.subarray(start, start + length), ptrPtr, sizePtr);
    },
    proxy_send_local_response(
      status: number,
      detailsPtr: number,
      detailsSize: number,
      bodyPtr: number,
      bodySize: number,
      headersPtr: number,
      headersSize: number,
    ): number {
      const s = stream();
      if (!s) return WASM_RESULT.notFound;
      s.localResponse = {
        status,
        details: text(detailsPtr, detailsSize),
        body: text(bodyPtr, bodySize),
        headers: parsePairs(bytesAt(headersPtr, headersSize)),
      };
      return WASM_RESULT.ok;
    },
    proxy_continue_stream(streamType: number): number {
      const s = stream();
      if (!s || streamType !== 0) return WASM_RESULT.badArgument;
      s.continued = true;
      return WASM_RESULT.ok;
    },
    proxy_set_effective_context(id: number): number {
      if (id !== ROOT_CONTEXT && !streams.has(id)) return WASM_RESULT.badArgument;
      effective = id;
      return WASM_RESULT.ok;
    },
    proxy_grpc_call(
      servicePtr: number,
      serviceSize: number,
      serviceNamePtr: number,
      serviceNameSize: number,
      methodPtr: number,
      methodSize: number,
      metadataPtr: number,
      metadataSize: number,
      messagePtr: number,
      messageSize: number,
      timeoutMs: number,
      tokenPtr: number,
    ): number {
      parsePairs(bytesAt(metadataPtr, metadataSize));
      if (options.refuseGrpc) return WASM_RESULT.badArgument;
      const token = nextToken++;
      grpcCalls.set(token, {
        token,
        service: bytesAt(servicePtr, serviceSize),
        serviceName: text(serviceNamePtr, serviceNameSize),
        method: text(methodPtr, methodSize),
        message: bytesAt(messagePtr, messageSize),
        timeoutMs,
      });
      view().setUint32(tokenPtr, token, true);
      return WASM_RESULT.ok;
    },
    proxy_http_call(
      uriPtr: number,
      uriSize: number,
      headersPtr: number,
      headersSize: number,
      bodyPtr: number,
      bodySize: number,
      trailersPtr: number,
      trailersSize: number,
      timeoutMs: number,
      tokenPtr: number,
    ): number {
      parsePairs(bytesAt(trailersPtr, trailersSize));
      const token = nextToken++;
      httpCalls.set(token, {
        token,
        cluster: text(uriPtr, uriSize),
        headers: parsePairs(bytesAt(headersPtr, headersSize)),
        body: bytesAt(bodyPtr, bodySize),
        timeoutMs,
      });
      view().setUint32(tokenPtr, token, true);
      return WASM_RESULT.ok;
    },
  });

  const { instance } = await wasmApi.instantiate(bytes, { env });
  exports = instance.exports as unknown as Record<string, (...args: number[]) => number>;
  vm.memory = instance.exports['memory'] as WasmMemory;
  const call = (name: string, ...args: number[]): number => {
    const f = exports[name];
    if (!f) return 0;
    return f(...args);
  };
  const withContext = <T>(id: number, f: () => T): T => {
    effective = id;
    try {
      return f();
    } finally {
      effective = ROOT_CONTEXT;
    }
  };

  call('_initialize');
  call('proxy_on_context_create', ROOT_CONTEXT, 0);
  call('proxy_on_vm_start', ROOT_CONTEXT, 0);
  const configured = call('proxy_on_configure', ROOT_CONTEXT, config.length) !== 0;

  const callback = (buffers: Map<number, Uint8Array>, headers: Header[], f: () => void): void => {
    callbackBuffers = buffers;
    callbackHeaders = headers;
    try {
      withContext(ROOT_CONTEXT, f);
    } finally {
      callbackBuffers = new Map();
      callbackHeaders = [];
    }
  };

  return {
    configured,
    memory: vm.memory,
    logs,
    grpcCalls,
    httpCalls,
    request(headers, properties = {}, endOfStream = true) {
      const id = nextContext++;
      const s: Stream = {
        id,
        headers: headers.map(([k, v]) => [k.toLowerCase(), v] as const),
        properties: new Map(Object.entries(properties)),
        filterState: new Map(),
        action: undefined,
        localResponse: undefined,
        continued: false,
      };
      streams.set(id, s);
      withContext(id, () => {
        call('proxy_on_context_create', id, ROOT_CONTEXT);
        s.action = call('proxy_on_request_headers', id, s.headers.length, endOfStream ? 1 : 0);
      });
      return s;
    },
    completeGrpc(token, response) {
      if (!grpcCalls.delete(token)) throw new Error(`no gRPC call ${token}`);
      callback(new Map([[BUFFER.grpcReceiveBuffer, response]]), [], () =>
        call('proxy_on_grpc_receive', ROOT_CONTEXT, token, response.length),
      );
    },
    failGrpc(token, status) {
      if (!grpcCalls.delete(token)) throw new Error(`no gRPC call ${token}`);
      callback(new Map(), [], () => call('proxy_on_grpc_close', ROOT_CONTEXT, token, status));
    },
    completeHttp(token, headers, body) {
      if (!httpCalls.delete(token)) throw new Error(`no http call ${token}`);
      callback(new Map([[BUFFER.httpCallResponseBody, body]]), [...headers], () =>
        call('proxy_on_http_call_response', ROOT_CONTEXT, token, headers.length, body.length, 0),
      );
    },
    finish(s) {
      withContext(s.id, () => {
        call('proxy_on_done', s.id);
        call('proxy_on_log', s.id);
        call('proxy_on_delete', s.id);
      });
      streams.delete(s.id);
    },
    openStreams: () => streams.size,
  };
}

/** Header pairs as the ABI serializes them: count, (key size, value size) each, then each key and value NUL-ended. */
export function serializePairs(pairs: readonly Header[]): Uint8Array {
  const enc = pairs.map(([k, v]) => [Buffer.from(k, 'utf8'), Buffer.from(v, 'utf8')] as const);
  const size = 4 + enc.length * 8 + enc.reduce((n, [k, v]) => n + k.length + v.length + 2, 0);
  const out = Buffer.alloc(size);
  out.writeUInt32LE(enc.length, 0);
  let at = 4 + enc.length * 8;
  enc.forEach(([k, v], i) => {
    out.writeUInt32LE(k.length, 4 + i * 8);
    out.writeUInt32LE(v.length, 8 + i * 8);
  });
  for (const [k, v] of enc) {
    k.copy(out, at);
    at += k.length + 1;
    v.copy(out, at);
    at += v.length + 1;
  }
  return new Uint8Array(out);
}

/** Reads serialized header pairs; throws on an inconsistent buffer (Envoy's PairsUtil rejects one too). */
export function parsePairs(b: Uint8Array): Header[] {
  if (b.length === 0) return [];
  const buf = Buffer.from(b);
  const n = buf.readUInt32LE(0);
  let at = 4 + n * 8;
  const out: Header[] = [];
  for (let i = 0; i < n; i++) {
    const ks = buf.readUInt32LE(4 + i * 8);
    const vs = buf.readUInt32LE(8 + i * 8);
    if (at + ks + vs + 2 > buf.length || buf[at + ks] !== 0 || buf[at + ks + 1 + vs] !== 0)
      throw new Error('malformed header pairs');
    out.push([buf.toString('utf8', at, at + ks), buf.toString('utf8', at + ks + 1, at + ks + 1 + vs)]);
    at += ks + vs + 2;
  }
  return out;
}
