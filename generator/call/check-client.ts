/**
 * A real ext_authz gRPC client built from Envoy's own protos: `phiguard call`, the integration tests and the
 * benchmark's correctness probe use it to speak to the service exactly as Envoy does.
 */
import * as grpc from '@grpc/grpc-js';
import { loadAuthzPackageDefinition } from '../../proto/envoy-protos.js';
import type { CheckInput } from '../../authz/index.js';

/**
 * Wraps plain JSON as a google.protobuf.Value. protobufjs defines the well-known Struct/Value types itself, with
 * camelCase field names (`stringValue`) even when the rest of the package is loaded with keepCase.
 */
export function wrapValue(v: unknown): Record<string, unknown> {
  if (v === null || v === undefined) return { nullValue: 'NULL_VALUE' };
  if (typeof v === 'number') return { numberValue: v };
  if (typeof v === 'string') return { stringValue: v };
  if (typeof v === 'boolean') return { boolValue: v };
  if (Array.isArray(v)) return { listValue: { values: v.map(wrapValue) } };
  if (typeof v === 'object') return { structValue: wrapStruct(v as Record<string, unknown>) };
  return { stringValue: typeof v === 'bigint' ? v.toString() : typeof v };
}

export function wrapStruct(o: Record<string, unknown>): { fields: Record<string, unknown> } {
  const fields: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(o)) fields[k] = wrapValue(v);
  return { fields };
}

/** CheckInput (Envoy's JSON shape) -> the object grpc-js serializes as a CheckRequest. */
export function toGrpcCheckRequest(input: CheckInput): Record<string, unknown> {
  const a = input.attributes;
  const out: Record<string, unknown> = { ...a };
  const fm = a.metadata_context?.filter_metadata;
  if (fm) {
    const wrapped: Record<string, unknown> = {};
    for (const [ns, v] of Object.entries(fm)) wrapped[ns] = wrapStruct((v ?? {}) as Record<string, unknown>);
    out['metadata_context'] = { filter_metadata: wrapped };
  }
  const t = a.request?.time;
  if (typeof t === 'string') {
    const ms = Date.parse(t);
    out['request'] = { ...a.request, time: { seconds: String(Math.floor(ms / 1000)), nanos: (ms % 1000) * 1e6 } };
  }
  return { attributes: out };
}

export interface CheckClient {
  check(request: Record<string, unknown>, deadlineMs?: number): Promise<Record<string, unknown>>;
  close(): void;
}

export function createCheckClient(address: string, options: grpc.ChannelOptions = {}): CheckClient {
  const pkg = grpc.loadPackageDefinition(loadAuthzPackageDefinition());
  const v3 = (((pkg['envoy'] as grpc.GrpcObject)['service'] as grpc.GrpcObject)['auth'] as grpc.GrpcObject)[
    'v3'
  ] as grpc.GrpcObject;
  const Ctor = v3['Authorization'] as grpc.ServiceClientConstructor;
  const client = new Ctor(address, grpc.credentials.createInsecure(), options);
  return {
    check(request, deadlineMs = 5_000) {
      return new Promise((resolve, reject) => {
        const fn = client['Check'] as (
          req: unknown,
          md: grpc.Metadata,
          opts: grpc.CallOptions,
          cb: (e: grpc.ServiceError | null, r: unknown) => void,
        ) => void;
        fn.call(client, request, new grpc.Metadata(), { deadline: Date.now() + deadlineMs }, (e, r) =>
          e ? reject(e) : resolve(r as Record<string, unknown>),
        );
      });
    },
    close: () => client.close(),
  };
}
