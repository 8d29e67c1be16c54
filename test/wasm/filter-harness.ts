/**
 * Shared by the filter tests: the module built from wasm/assembly (rebuilt when its sources change), the decision
 * program of a policy set, one request through the filter in the test host, and the service's answer for it.
 */
import { createHash } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as grpc from '@grpc/grpc-js';
import { ClaimsConfigSchema, createClaimsResolver, type CompiledPolicySet, type Decision } from '../../authz/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { checkInputFor, explain, type ExplainRequest } from '../../generator/explain/index.js';
import { buildWasmProgram, DEFAULT_DEFER_HEADERS } from '../../generator/wasm/index.js';
import { startHost, type Header, type ProxyWasmHost, type Stream } from './proxy-wasm-host.js';

const SOURCES = 'wasm/assembly';
const OUT = 'wasm/build/phiguard-filter.wasm';
export const SAN_PROPERTY = 'connection\0uri_san_peer_certificate';
export const FHIR_BASES = ['/fhir', '/fhir/R4'];

/** `npm run build:wasm`'s output, built here when missing or older than the sources (keyed by their hash). */
export function filterModule(): Uint8Array {
  const hash = createHash('sha256');
  for (const f of readdirSync(SOURCES).sort()) hash.update(f).update(readFileSync(path.join(SOURCES, f)));
  hash.update(readFileSync('node_modules/assemblyscript/package.json'));
  const digest = hash.digest('hex');
  const stamp = `${OUT}.sources-sha256`;
  if (!existsSync(OUT) || !existsSync(stamp) || readFileSync(stamp, 'utf8') !== digest) {
    mkdirSync(path.dirname(OUT), { recursive: true });
    const tmp = `${OUT}.${process.pid}.tmp`;
    execFileSync(
      process.execPath,
      [
        'node_modules/assemblyscript/bin/asc.js',
        `${SOURCES}/index.ts`,
        '-o',
        tmp,
        '-O3',
        '--use',
        'abort=',
        '--runtime',
        'incremental',
      ],
      { stdio: 'pipe' },
    );
    renameSync(tmp, OUT);
    writeFileSync(`${stamp}.${process.pid}`, digest);
    renameSync(`${stamp}.${process.pid}`, stamp);
  }
  return new Uint8Array(readFileSync(OUT));
}

export function examplePolicies(): CompiledPolicySet {
  const loaded = readPolicyDir('examples/policies');
  if (!loaded.ok) throw loaded.error;
  return loaded.value.set;
}

export async function programFor(set: CompiledPolicySet, allowInProxy: boolean): Promise<string> {
  const p = await buildWasmProgram(set, {
    fhirBasePaths: FHIR_BASES,
    authzCluster: 'outbound|9191||phiguard.phiguard.svc.cluster.local',
    timeoutMs: 200,
    allowInProxy,
    hosts: [],
    deferHeaders: [...DEFAULT_DEFER_HEADERS],
  });
  return p.text;
}

export async function hostFor(program: string, refuseGrpc = false): Promise<ProxyWasmHost> {
  return startHost(filterModule(), { pluginConfiguration: program, refuseGrpc });
}

export type FilterAnswer =
  | { kind: 'allow'; rule: string; stream: Stream }
  | { kind: 'deny'; status: number; rule: string; body: string; decisionId: string; stream: Stream }
  | { kind: 'defer'; token: number; stream: Stream };

/** The request's headers as Envoy hands them to a filter: pseudo-headers first, then the rest, lower-case. */
export function envoyHeaders(r: ExplainRequest): Header[] {
  const headers: Header[] = [
    [':method', r.method],
    [':path', r.path],
    [':authority', r.host ?? r.headers['host'] ?? 'fhir.local'],
  ];
  for (const [k, v] of Object.entries(r.headers)) if (k.toLowerCase() !== 'host') headers.push([k.toLowerCase(), v]);
  if (r.body !== undefined && r.headers['content-length'] === undefined)
    headers.push(['content-length', String(Buffer.byteLength(r.body))]);
  return headers;
}

/** Runs one request through the filter and reads what it did; the stream is finished unless it deferred. */
export function runFilter(host: ProxyWasmHost, r: ExplainRequest): FilterAnswer {
  const before = new Set(host.grpcCalls.keys());
  const stream = host.request(envoyHeaders(r), r.principal === '' ? {} : { [SAN_PROPERTY]: r.principal });
  const state = stream.filterState.get('wasm.phiguard_decision');
  const recorded = state === undefined ? undefined : (JSON.parse(state) as Record<string, string>);
  const token = [...host.grpcCalls.keys()].find((t) => !before.has(t));
  if (token !== undefined) return { kind: 'defer', token, stream };
  host.finish(stream);
  if (stream.localResponse !== undefined)
    return {
      kind: 'deny',
      status: stream.localResponse.status,
      rule: recorded?.['rule'] ?? '',
      body: stream.localResponse.body,
      decisionId: recorded?.['decisionId'] ?? '',
      stream,
    };
  if (stream.action === 0 && recorded?.['decision'] === 'allow')
    return { kind: 'allow', rule: recorded['rule'] ?? '', stream };
  throw new Error(`the filter neither decided nor deferred (action ${String(stream.action)})`);
}

/** What the service decides for the request (`phiguard explain`). */
export async function serviceDecision(set: CompiledPolicySet, r: ExplainRequest): Promise<Decision> {
  const claims = createClaimsResolver(ClaimsConfigSchema.parse({}));
  return (await explain(checkInputFor(r), set, claims, FHIR_BASES)).decision;
}

/** One unary Check with raw message bytes, as Envoy's async client makes it for `proxy_grpc_call`. */
export function rawCheck(client: grpc.Client, message: Uint8Array, deadlineMs = 5000): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(
      '/envoy.service.auth.v3.Authorization/Check',
      (b: Uint8Array) => Buffer.from(b),
      (b: Buffer) => new Uint8Array(b),
      message,
      new grpc.Metadata(),
      { deadline: Date.now() + deadlineMs },
      (e, r) => (e || !r ? reject(e ?? new Error('no response')) : resolve(r)),
    );
  });
}
