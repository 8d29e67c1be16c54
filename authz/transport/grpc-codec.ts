/**
 * The wire codec for envoy.service.auth.v3.Authorization/Check, used instead of proto-loader's default one.
 *
 * proto-loader decodes into a message and then converts it to a plain object (`toObject`), and encodes by first
 * converting from one (`fromObject`). Here grpc-js hands the request on as its wire bytes, which the Check pipeline
 * decodes straight into CheckInput (check-request-wire.ts; the decoder enforces the wire types of the proto schema:
 * that is the boundary check for gRPC input, and a malformed request is a value the pipeline denies, not an
 * exception), and the response is handed over already encoded (see response-cache.ts).
 */
import type * as grpc from '@grpc/grpc-js';
import type protobuf from 'protobufjs';
import { loadEnvoyRoot } from '../../proto/envoy-protos.js';
import { AUTHZ_PROTO } from '../../proto/envoy-protos.js';

let root: protobuf.Root | undefined;

export function authzRoot(): protobuf.Root {
  root ??= loadEnvoyRoot([AUTHZ_PROTO]);
  return root;
}

export const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';

/**
 * The Check method as the listener serves it: the request left as its wire bytes (the Check pipeline decodes them,
 * on whichever thread decides), the response handed over already encoded (response-cache.ts).
 */
export function rawAuthorizationServiceDefinition(): grpc.ServiceDefinition {
  const r = authzRoot();
  const Req = r.lookupType('envoy.service.auth.v3.CheckRequest');
  const Res = r.lookupType('envoy.service.auth.v3.CheckResponse');
  return {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      originalName: 'Check',
      requestSerialize: (value: unknown) =>
        Buffer.from(Req.encode(Req.fromObject(value as Record<string, unknown>)).finish()),
      requestDeserialize: (bytes: Buffer) => bytes,
      responseSerialize: (value: unknown) =>
        Buffer.isBuffer(value)
          ? value
          : Buffer.from(Res.encode(Res.fromObject(value as Record<string, unknown>)).finish()),
      responseDeserialize: (bytes: Buffer) =>
        Res.toObject(Res.decode(bytes), { longs: String, enums: String, oneofs: true }),
    } as grpc.MethodDefinition<unknown, unknown>,
  };
}
