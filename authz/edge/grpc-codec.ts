/**
 * The wire codec for envoy.service.auth.v3.Authorization/Check, used instead of proto-loader's default one.
 *
 * proto-loader decodes into a message and then converts it to a plain object (`toObject`), and encodes by first
 * converting from one (`fromObject`); on the Check path those conversions cost ~6 µs per call. Here the request is
 * decoded once into the protobufjs message (the decoder enforces the proto schema: that is the boundary check for
 * gRPC input; check-request.ts maps it into CheckInput with typed guards), and a response may be handed over
 * already encoded (see response-cache.ts).
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

/** A service definition for grpc-js with phiguard's codec. */
export function authorizationServiceDefinition(): grpc.ServiceDefinition {
  const r = authzRoot();
  const Req = r.lookupType('envoy.service.auth.v3.CheckRequest');
  const Res = r.lookupType('envoy.service.auth.v3.CheckResponse');
  return {
    Check: {
      path: CHECK_PATH,
      requestStream: false,
      responseStream: false,
      originalName: 'Check',
      requestSerialize: (value: unknown) => Buffer.from(Req.encode(Req.fromObject(value as Record<string, unknown>)).finish()),
      requestDeserialize: (bytes: Buffer) => Req.decode(bytes),
      responseSerialize: (value: unknown) => (Buffer.isBuffer(value) ? value : Buffer.from(Res.encode(Res.fromObject(value as Record<string, unknown>)).finish())),
      responseDeserialize: (bytes: Buffer) => Res.toObject(Res.decode(bytes), { longs: String, enums: String, oneofs: true }),
    } as grpc.MethodDefinition<unknown, unknown>,
  };
}
