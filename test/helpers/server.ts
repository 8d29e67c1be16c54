import { cpSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import {
  ServerConfigSchema,
  startAuthzServer,
  startThreadedAuthzServer,
  createLogger,
  type AuthzServer,
  type AuthzService,
  type ServerConfig,
  type ThreadedStartOptions,
} from '../../authz/index.js';
import { tempDir, timelessRegistry } from './temp.js';

/** What a test needs of a started service, whichever its topology (one thread, or with its decision thread). */
export interface ServiceUnderTest {
  /** Where it listens, and its drain-and-flush close. */
  service: AuthzService;
  addr: string;
  policiesDir: string;
  auditFile: string;
  dir: string;
  auditRecords(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  readyz(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** GET /healthz (liveness): its status and JSON body. */
  healthz(): Promise<{ status: number; body: Record<string, unknown> }>;
  /** Closes the service (unless already closed) and removes its temp directory. */
  stop(): Promise<void>;
}

/** The service in one thread (`--decisions inline`), with its parts in reach. */
export interface TestServer extends ServiceUnderTest {
  server: AuthzServer;
}

/** The service with its decision thread (`--decisions thread`), as `phiguard serve` runs it by default. */
export interface ThreadedTestServer extends ServiceUnderTest {
  /** The decision thread (to test its failure path). */
  thread(): Worker;
}

/**
 * A temp directory with the policies (a copy of examples/policies, or only the given files) and a config on
 * ephemeral ports.
 */
function prepare(
  overrides: Partial<ServerConfig>,
  policyFiles?: Record<string, string>,
): { t: ReturnType<typeof tempDir>; policiesDir: string; auditFile: string; config: ServerConfig } {
  const t = tempDir();
  const policiesDir = path.join(t.dir, 'policies');
  if (policyFiles) {
    mkdirSync(policiesDir);
    for (const [name, text] of Object.entries(policyFiles)) writeFileSync(path.join(policiesDir, name), text);
  } else {
    cpSync('examples/policies', policiesDir, { recursive: true });
  }
  const auditFile = path.join(t.dir, 'audit.jsonl');
  const config = ServerConfigSchema.parse({
    port: 0,
    metricsPort: 0,
    policies: policiesDir,
    auditFile,
    logLevel: 'silent',
    shutdownGraceMs: 2000,
    ...overrides,
  });
  return { t, policiesDir, auditFile, config };
}

function handles(
  service: AuthzService,
  t: ReturnType<typeof tempDir>,
  policiesDir: string,
  auditFile: string,
): ServiceUnderTest {
  let stopped = false;
  return {
    service,
    addr: `127.0.0.1:${service.grpcPort}`,
    policiesDir,
    auditFile,
    dir: t.dir,
    auditRecords: () =>
      readFileSync(auditFile, 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    metrics: async () => (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text(),
    readyz: async () => {
      const r = await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    healthz: async () => {
      const r = await fetch(`http://127.0.0.1:${service.metricsPort}/healthz`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
    stop: async () => {
      if (!stopped) await service.close();
      stopped = true;
      t.remove();
    },
  };
}

/**
 * Starts the real service in this thread on loopback, ephemeral ports, with a copy of examples/policies (or given
 * files).
 */
export async function startTestServer(
  overrides: Partial<ServerConfig> = {},
  policyFiles?: Record<string, string>,
): Promise<TestServer> {
  const { t, policiesDir, auditFile, config } = prepare(overrides, policyFiles);
  const server = await startAuthzServer(config, { logger: createLogger('silent'), defaultMetrics: false }).catch(
    (e: unknown) => {
      t.remove();
      throw e;
    },
  );
  return { server, ...handles(server, t, policiesDir, auditFile) };
}

/** Starts the real service with its decision thread, like startTestServer otherwise. */
export async function startThreadedTestServer(
  overrides: Partial<ServerConfig> = {},
  options: Pick<ThreadedStartOptions, 'onFailure' | 'chunk'> = {},
  policyFiles?: Record<string, string>,
): Promise<ThreadedTestServer> {
  const { t, policiesDir, auditFile, config } = prepare(overrides, policyFiles);
  let worker: Worker | undefined;
  const service = await startThreadedAuthzServer(config, {
    logger: createLogger('silent'),
    defaultMetrics: false,
    onThread: (w) => {
      worker = w;
    },
    ...options,
  }).catch((e: unknown) => {
    t.remove();
    throw e;
  });
  return {
    ...handles(service, t, policiesDir, auditFile),
    thread: () => {
      if (worker === undefined) throw new Error('no decision thread');
      return worker;
    },
  };
}

/** Starts the service in one topology, with a copy of examples/policies (or only the given files). */
export type StartTopology = (
  overrides?: Partial<ServerConfig>,
  policyFiles?: Record<string, string>,
) => Promise<ServiceUnderTest>;

/**
 * Both topologies the service runs in, for `describe.each` / `test.each`: `inline` (`--decisions inline`, one thread)
 * and `thread` (`--decisions thread`, the default of `phiguard serve`: decisions on the decision thread).
 */
export const TOPOLOGIES: ReadonlyArray<readonly [name: 'inline' | 'thread', start: StartTopology]> = [
  ['inline', (overrides, policyFiles) => startTestServer(overrides, policyFiles)],
  ['thread', (overrides, policyFiles) => startThreadedTestServer(overrides, {}, policyFiles)],
];

/**
 * Starts the service (by `start`: one topology, or startTestServer) with the example BAA registry, its agreements
 * kept in force (`timelessRegistry`). `registry` is the file, for tests that rewrite it; `stop` removes it too.
 */
export async function startWithExampleRegistry<T extends ServiceUnderTest>(
  start: (overrides: Partial<ServerConfig>) => Promise<T>,
  overrides: Partial<ServerConfig> = {},
): Promise<T & { registry: string }> {
  const t = tempDir();
  const registry = timelessRegistry(path.join(t.dir, 'registry.yaml'));
  const s = await start({ baaRegistry: registry, ...overrides }).catch((e: unknown) => {
    t.remove();
    throw e;
  });
  const stop = s.stop.bind(s);
  return Object.assign(s, {
    registry,
    stop: async () => {
      await stop();
      t.remove();
    },
  });
}

/** Example requests of four different outcomes, for tests that mix many checks on one connection. */
export const MIXED_CHECKS = [
  { file: 'scribe-read-encounter.json', code: 0, rule: 'read-chart-of-context-patient' },
  { file: 'scribe-population-search.json', code: 7, rule: 'no-population-queries' },
  { file: 'scribe-note-transaction.json', code: 0, rule: 'note-transaction' },
  { file: 'unknown-agent.json', code: 7, rule: 'default-deny-unknown-principal' },
] as const;

/** Loads an example CheckRequest JSON file. */
export function exampleRequest(name: string): Record<string, unknown> {
  return JSON.parse(readFileSync(path.join('examples/requests', name), 'utf8')) as Record<string, unknown>;
}

/**
 * A JWKS URL on loopback that holds every answer until release(). Until then a check whose bearer token the service
 * verifies for the first time is truly pending inside the service (its decision waits for the keys). `requested`
 * resolves when the service first asks for the keys.
 */
export async function heldJwks(
  jwks: string,
): Promise<{ uri: string; requested: Promise<void>; release(): void; close(): Promise<void> }> {
  const held: http.ServerResponse[] = [];
  let released = false;
  let requestedNow: () => void = () => undefined;
  const requested = new Promise<void>((resolve) => {
    requestedNow = resolve;
  });
  const answer = (res: http.ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(jwks);
  };
  const idp = http.createServer((_req, res) => {
    requestedNow();
    if (released) answer(res);
    else held.push(res);
  });
  await new Promise<void>((resolve) => idp.listen(0, '127.0.0.1', () => resolve()));
  return {
    uri: `http://127.0.0.1:${(idp.address() as AddressInfo).port}/.well-known/jwks.json`,
    requested,
    release: () => {
      released = true;
      for (const res of held.splice(0)) answer(res);
    },
    close: () =>
      new Promise<void>((resolve) => {
        idp.closeAllConnections();
        idp.close(() => resolve());
      }),
  };
}

/** A grpc.health.v1 client: `status(service)` is the serving status the server reports ('' for the whole server). */
export async function healthClient(
  addr: string,
): Promise<{ status: (service: string) => Promise<string>; close: () => void }> {
  const grpc = await import('@grpc/grpc-js');
  const { service } = await import('grpc-health-check');
  const Client = grpc.makeClientConstructor(service, 'grpc.health.v1.Health');
  const hc = new Client(addr, grpc.credentials.createInsecure()) as unknown as {
    check(r: unknown, cb: (e: unknown, r: { status: string }) => void): void;
    close(): void;
  };
  return {
    status: (svc) =>
      new Promise<string>((resolve, reject) =>
        hc.check({ service: svc }, (e, r) =>
          e ? reject(e instanceof Error ? e : new Error('health check failed')) : resolve(r.status),
        ),
      ),
    close: () => hc.close(),
  };
}
