/**
 * Envoy's access-log service on the wire (`envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs`,
 * service/accesslog/v3/als.proto): a client stream of `StreamAccessLogsMessage`s from Envoy's gRPC HTTP access logger
 * (`envoy.access_loggers.http_grpc`, extensions/access_loggers/grpc/v3/als.proto), answered with one empty
 * `StreamAccessLogsResponse` when the stream ends. Envoy does not wait for that answer: an entry is sent once.
 *
 * phiguard reads one thing of each entry: the filter state its proxy-wasm filter wrote (`wasm.phiguard_decision`,
 * listed in the logger's `filter_state_objects_to_log`). Envoy serializes a wasm filter state object
 * (`proxy_set_property`, a `CelState` of type bytes: source/extensions/filters/common/expr/cel_state.cc
 * `serializeAsProto`) as an `Any` holding a `google.protobuf.BytesValue`; a `StringValue` is read the same way.
 * Entries without that object (requests the filter deferred to the service, other traffic) are counted and skipped.
 */
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadEnvoyRoot } from '../../proto/envoy-protos.js';

export const ACCESS_LOG_SERVICE = 'envoy.service.accesslog.v3.AccessLogService';
const STREAM_PATH = `/${ACCESS_LOG_SERVICE}/StreamAccessLogs`;
const ALS_PROTO = 'envoy/service/accesslog/v3/als.proto';

/** The filter state key the proxy-wasm filter's decision is kept under (`wasm.` + its `proxy_set_property` path). */
export const PROXY_DECISION_STATE = 'wasm.phiguard_decision';

/** One HTTP access-log entry that carries the filter's decision. */
export interface ProxyLogEntry {
  /** The filter state's bytes as text (the filter writes a JSON object). */
  state: string;
  /** Envoy's `start_time` of the request (epoch ms), when present. */
  startTimeMs: number | undefined;
}

export interface DecodedAccessLogs {
  /** Entries with the filter's decision. */
  entries: ProxyLogEntry[];
  /** HTTP entries without it (deferred requests, other traffic), and TCP entries. */
  skipped: number;
  /** Entries whose decision state is not bytes or a string (an unexpected filter state type). */
  unreadable: number;
}

interface Types {
  message: protobuf.Type;
  bytesValue: protobuf.Type;
  stringValue: protobuf.Type;
}

let types: Types | undefined;

function loadTypes(): Types {
  if (types !== undefined) return types;
  const root = loadEnvoyRoot([ALS_PROTO, 'google/protobuf/wrappers.proto']);
  types = {
    message: root.lookupType('envoy.service.accesslog.v3.StreamAccessLogsMessage'),
    bytesValue: root.lookupType('google.protobuf.BytesValue'),
    stringValue: root.lookupType('google.protobuf.StringValue'),
  };
  return types;
}

interface AnyValue {
  type_url?: string;
  value?: Uint8Array;
}

interface WireEntry {
  common_properties?: {
    start_time?: { seconds?: number; nanos?: number };
    filter_state_objects?: Record<string, AnyValue>;
  };
}

interface WireMessage {
  http_logs?: { log_entry?: WireEntry[] };
  tcp_logs?: { log_entry?: unknown[] };
}

/** The text inside a wrapper `Any`, or undefined for another type. */
function wrapperText(t: Types, any: AnyValue): string | undefined {
  const url = any.type_url ?? '';
  const bytes = any.value ?? new Uint8Array(0);
  if (url.endsWith('/google.protobuf.BytesValue')) {
    const v = t.bytesValue.toObject(t.bytesValue.decode(bytes)) as { value?: Uint8Array };
    return Buffer.from(v.value ?? new Uint8Array(0)).toString('utf8');
  }
  if (url.endsWith('/google.protobuf.StringValue')) {
    const v = t.stringValue.toObject(t.stringValue.decode(bytes)) as { value?: string };
    return v.value ?? '';
  }
  return undefined;
}

function startTimeMs(e: WireEntry): number | undefined {
  const ts = e.common_properties?.start_time;
  if (ts === undefined) return undefined;
  const seconds = Number(ts.seconds ?? 0);
  const ms = seconds * 1000 + Math.floor((ts.nanos ?? 0) / 1e6);
  return Number.isFinite(ms) ? ms : undefined;
}

/** Decodes one `StreamAccessLogsMessage`. Throws on bytes that are not one (the stream is then failed). */
export function decodeAccessLogs(bytes: Uint8Array): DecodedAccessLogs {
  const t = loadTypes();
  // toObject: absent fields stay absent (a decoded message reads unset message fields as null).
  const m = t.message.toObject(t.message.decode(bytes), { longs: Number }) as WireMessage;
  const out: DecodedAccessLogs = { entries: [], skipped: m.tcp_logs?.log_entry?.length ?? 0, unreadable: 0 };
  for (const e of m.http_logs?.log_entry ?? []) {
    const any = e.common_properties?.filter_state_objects?.[PROXY_DECISION_STATE];
    if (any === undefined) {
      out.skipped++;
      continue;
    }
    const state = wrapperText(t, any);
    if (state === undefined) out.unreadable++;
    else out.entries.push({ state, startTimeMs: startTimeMs(e) });
  }
  return out;
}

/** Encodes a `StreamAccessLogsMessage` from its JSON-shaped object (tests, and the wasm test host's access logger). */
export function encodeAccessLogs(message: Record<string, unknown>): Buffer {
  const t = loadTypes();
  return Buffer.from(t.message.encode(t.message.fromObject(message)).finish());
}

/** Encodes a wrapper value as Envoy serializes a wasm filter state object: an `Any` of a `BytesValue`. */
export function filterStateAny(text: string): { type_url: string; value: Buffer } {
  const t = loadTypes();
  const value = Buffer.from(t.bytesValue.encode({ value: Buffer.from(text, 'utf8') }).finish());
  return { type_url: 'type.googleapis.com/google.protobuf.BytesValue', value };
}

/**
 * The AccessLogService definition with messages kept as wire bytes (decoded where they are recorded). The response
 * is the empty `StreamAccessLogsResponse`: zero bytes.
 */
export function rawAccessLogServiceDefinition(): grpc.ServiceDefinition {
  return {
    StreamAccessLogs: {
      path: STREAM_PATH,
      requestStream: true,
      responseStream: false,
      originalName: 'StreamAccessLogs',
      requestSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : Buffer.alloc(0)),
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: () => Buffer.alloc(0),
      responseDeserialize: () => ({}),
    } as grpc.MethodDefinition<unknown, unknown>,
  };
}
