/**
 * The Envoy proto types a config is checked against: the bootstrap plus the extensions a phiguard deployment (and
 * typical edge configs) use in `typed_config`. Loaded once from @grpc/grpc-js-xds's data-plane-api copy.
 */
import type protobuf from 'protobufjs';
import { loadEnvoyRoot } from '../../proto/envoy-protos.js';

export const ENVOY_CONFIG_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/network/tcp_proxy/v3/tcp_proxy.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
  'envoy/extensions/filters/http/health_check/v3/health_check.proto',
  'envoy/extensions/filters/http/cors/v3/cors.proto',
  'envoy/extensions/filters/http/lua/v3/lua.proto',
  'envoy/extensions/filters/http/rbac/v3/rbac.proto',
  'envoy/extensions/filters/http/header_to_metadata/v3/header_to_metadata.proto',
  'envoy/extensions/upstreams/http/v3/http_protocol_options.proto',
  'envoy/extensions/transport_sockets/tls/v3/tls.proto',
  'envoy/extensions/access_loggers/stream/v3/stream.proto',
  'envoy/extensions/access_loggers/file/v3/file.proto',
  'envoy/extensions/resource_monitors/fixed_heap/v3/fixed_heap.proto',
  'envoy/extensions/resource_monitors/injected_resource/v3/injected_resource.proto',
  'envoy/extensions/resource_monitors/downstream_connections/v3/downstream_connections.proto',
  'envoy/config/resource_monitor/fixed_heap/v2alpha/fixed_heap.proto',
  'envoy/config/resource_monitor/injected_resource/v2alpha/injected_resource.proto',
];

let root: protobuf.Root | undefined;

/** The shared root (loading takes ~1 s; done once per process). */
export function envoyConfigRoot(): protobuf.Root {
  root ??= loadEnvoyRoot(ENVOY_CONFIG_PROTOS);
  return root;
}
