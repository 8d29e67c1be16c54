/**
 * Where Envoy's API protos come from.
 *
 * phiguard does not vendor .proto files. Envoy's data-plane-api, xDS/udpa, googleapis and
 * protoc-gen-validate ship inside the `@grpc/grpc-js-xds` npm package under `deps/`; we resolve
 * that package at run time and hand its folders to the loaders as include paths.
 *
 * Known layout traps (grpc-js-xds 1.14): udpa lives under `deps/xds/udpa`, not `deps/udpa`.
 */
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync } from 'node:fs';
import * as protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

const require = createRequire(import.meta.url);

/** The proto files phiguard serves: Envoy's ext_authz v3 and the standard gRPC health service. */
export const AUTHZ_PROTO = 'envoy/service/auth/v3/external_auth.proto';

/** Returns the include directories for Envoy's protos, in resolution order. Throws if the package is missing. */
export function envoyProtoIncludeDirs(): string[] {
  const pkgJson = require.resolve('@grpc/grpc-js-xds/package.json');
  const deps = path.join(path.dirname(pkgJson), 'deps');
  const dirs = [
    path.join(deps, 'envoy-api'),
    path.join(deps, 'xds'),
    path.join(deps, 'googleapis'),
    path.join(deps, 'protoc-gen-validate'),
    path.join(path.dirname(require.resolve('protobufjs/package.json'))),
    path.join(path.dirname(require.resolve('@grpc/proto-loader/package.json')), 'build', 'proto'),
  ];
  const missing = dirs.slice(0, 4).filter((d) => !existsSync(d));
  if (missing.length > 0) {
    throw new Error(`Envoy protos not found in @grpc/grpc-js-xds (missing ${missing.join(', ')})`);
  }
  return dirs;
}

/**
 * proto-loader options for the Check service.
 * - keepCase: field names as in the .proto (`metadata_context`), matching Envoy's docs.
 * - longs: String — int64 fields (e.g. `size`) must not lose precision.
 * - enums: String — readable enum names.
 * - defaults: false, oneofs: true — absent fields stay absent; the oneof tells which is set.
 */
export const LOADER_OPTIONS: protoLoader.Options = {
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
};

/** Loads the ext_authz v3 package definition (for a grpc-js server or client). */
export function loadAuthzPackageDefinition(): protoLoader.PackageDefinition {
  return protoLoader.loadSync([AUTHZ_PROTO], { ...LOADER_OPTIONS, includeDirs: envoyProtoIncludeDirs() });
}

/**
 * Loads a protobufjs Root holding the given Envoy proto files with all their imports resolved
 * through the include dirs. Used by config validation (Envoy bootstrap, typed_config Any).
 */
export function loadEnvoyRoot(files: readonly string[]): protobuf.Root {
  const dirs = envoyProtoIncludeDirs();
  const root = new protobuf.Root();
  root.resolvePath = (_origin: string, target: string): string => {
    if (path.isAbsolute(target) && existsSync(target)) return target;
    for (const dir of dirs) {
      const candidate = path.join(dir, target);
      if (existsSync(candidate)) return candidate;
    }
    return target;
  };
  root.loadSync([...files], { keepCase: true });
  root.resolveAll();
  return root;
}
