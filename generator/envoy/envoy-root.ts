/**
 * The Envoy proto types a config is checked against: every message the shipped data-plane-api defines. The
 * bootstrap and the extensions a phiguard deployment uses are loaded up front; any other `@type` is found through an
 * index of the shipped .proto files (package and message names read from the sources) and loaded on first use, so
 * `ExternalProcessor`, `CsrfPolicy`, `Buffer`, `UpstreamCodec`, `InternalListener` and the rest resolve like the
 * bootstrap does. The protos are Envoy's data-plane-api as shipped inside `@grpc/grpc-js-xds` (see
 * proto/envoy-protos.ts); a type or field newer than that copy is reported against this API version by name.
 */
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import protobuf from 'protobufjs';
import { envoyProtoIncludeDirs, loadEnvoyRoot } from '../../proto/envoy-protos.js';

export const ENVOY_CONFIG_PROTOS = [
  'envoy/config/bootstrap/v3/bootstrap.proto',
  'envoy/extensions/filters/network/http_connection_manager/v3/http_connection_manager.proto',
  'envoy/extensions/filters/http/router/v3/router.proto',
  'envoy/extensions/filters/http/ext_authz/v3/ext_authz.proto',
  'envoy/extensions/filters/http/jwt_authn/v3/config.proto',
];

/** Why a type cannot be checked: absent from the shipped protos, or present but importing protos not shipped. */
export type MissingType = { missing: 'not-in-api' | 'imports-not-shipped'; detail: string };

/** The Envoy API a config is checked against. */
export interface EnvoyTypes {
  /** The message type `name` (fully qualified, no leading dot), loading its file on first use; or why it is absent. */
  lookup(name: string): protobuf.Type | MissingType;
  /** What this checker knows, for messages about newer types and fields ("Envoy data-plane-api as shipped in ..."). */
  readonly apiVersion: string;
}

/** Fully qualified message and enum names declared in one .proto source (nested ones included). */
export function declaredNames(source: string): string[] {
  const text = source
    .replace(/\/\*[\s\S]*?\*\//g, ' ')
    .replace(/\/\/[^\n]*/g, ' ')
    .replace(/"(?:[^"\\]|\\.)*"/g, '""');
  const pkg = /\bpackage\s+([\w.]+)\s*;/.exec(text)?.[1] ?? '';
  const out: string[] = [];
  // A stack of scopes: a name for a message/enum body, '' for any other brace (option blocks, oneofs, services).
  const stack: string[] = [];
  const token = /\b(message|enum)\s+(\w+)\s*\{|[{}]/g;
  for (let m = token.exec(text); m !== null; m = token.exec(text)) {
    if (m[0] === '}') stack.pop();
    else if (m[0] === '{') stack.push('');
    else {
      const name = [pkg, ...stack.filter(Boolean), m[2] ?? ''].filter(Boolean).join('.');
      out.push(name);
      stack.push(m[2] ?? '');
    }
  }
  return out;
}

function protoFiles(dir: string, base: string): string[] {
  let entries: string[];
  try {
    entries = readdirSync(dir);
  } catch {
    return [];
  }
  return entries.flatMap((f) => {
    const full = path.join(dir, f);
    if (statSync(full).isDirectory()) return protoFiles(full, base);
    return f.endsWith('.proto') ? [path.relative(base, full).split(path.sep).join('/')] : [];
  });
}

let types: EnvoyTypes | undefined;

/** The shared Envoy API (the up-front load takes about a second; done once per process). */
export function envoyTypes(): EnvoyTypes {
  types ??= createEnvoyTypes();
  return types;
}

/** The shared root holding the loaded protos (types resolved through `envoyTypes().lookup` are added to it). */
export function envoyConfigRoot(): protobuf.Root {
  envoyTypes();
  if (!sharedRoot) throw new Error('Envoy protos not loaded');
  return sharedRoot;
}

let sharedRoot: protobuf.Root | undefined;

function createEnvoyTypes(): EnvoyTypes {
  const root = loadEnvoyRoot(ENVOY_CONFIG_PROTOS);
  sharedRoot = root;
  const [envoyApi, xds] = envoyProtoIncludeDirs();
  const index = new Map<string, string>();
  for (const [dir, sub] of [
    [envoyApi, 'envoy'],
    [xds, 'xds'],
    [xds, 'udpa'],
  ] as const) {
    if (dir === undefined) continue;
    for (const file of protoFiles(path.join(dir, sub), dir))
      for (const name of declaredNames(readFileSync(path.join(dir, file), 'utf8')))
        if (!index.has(name)) index.set(name, file);
  }
  const require = createRequire(import.meta.url);
  const xdsVersion = (require('@grpc/grpc-js-xds/package.json') as { version?: string }).version ?? 'unknown';
  const apiVersion = `Envoy data-plane-api as shipped in @grpc/grpc-js-xds ${xdsVersion}`;
  const dirs = envoyProtoIncludeDirs();
  const imports = new Map<string, string | undefined>();
  /** The first import reachable from `file` that no include dir holds (memoized), or undefined. */
  const missingImport = (file: string, seen = new Set<string>()): string | undefined => {
    if (imports.has(file)) return imports.get(file);
    if (seen.has(file)) return undefined;
    seen.add(file);
    // protobufjs carries the well-known types itself (protobuf.common), whether or not a file holds them.
    if (file.startsWith('google/protobuf/')) return undefined;
    const dir = dirs.find((d) => existsSync(path.join(d, file)));
    let result: string | undefined;
    if (dir === undefined) result = file;
    else
      for (const m of readFileSync(path.join(dir, file), 'utf8').matchAll(
        /^\s*import\s+(?:public\s+|weak\s+)?"([^"]+)"/gm,
      )) {
        result = missingImport(m[1] ?? '', seen);
        if (result !== undefined) break;
      }
    imports.set(file, result);
    return result;
  };

  const lookup = (name: string): protobuf.Type | MissingType => {
    const found = root.lookup(name);
    if (found instanceof protobuf.Type) return found;
    const file = index.get(name);
    if (file === undefined) return { missing: 'not-in-api', detail: `${name} is not in the ${apiVersion}` };
    // A file whose imports are not all shipped is never loaded: protobufjs would add its types to the shared root
    // before failing on the import, and every later resolve would then fail too.
    const absent = missingImport(file);
    if (absent !== undefined)
      return {
        missing: 'imports-not-shipped',
        detail: `${name} (${file}) imports ${absent}, which is not shipped with the ${apiVersion}`,
      };
    root.loadSync(file, { keepCase: true });
    root.resolveAll();
    const loaded = root.lookup(name);
    return loaded instanceof protobuf.Type
      ? loaded
      : { missing: 'not-in-api', detail: `${name} is not a message in the ${apiVersion}` };
  };
  return { lookup, apiVersion };
}
