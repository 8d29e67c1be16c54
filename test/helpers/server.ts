import { cpSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { Worker } from 'node:worker_threads';
import { ServerConfigSchema, startAuthzServer, startThreadedAuthzServer, createLogger, type AuthzServer, type AuthzService, type ServerConfig, type ThreadedStartOptions } from '../../authz/index.js';
import { tempDir } from './temp.js';

export interface TestServer {
  server: AuthzServer;
  addr: string;
  policiesDir: string;
  auditFile: string;
  dir: string;
  auditRecords(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  stop(): Promise<void>;
}

/** A temp directory with a copy of examples/policies (or only the given files) and a config on ephemeral ports. */
function prepare(overrides: Partial<ServerConfig>, policyFiles?: Record<string, string>): { t: ReturnType<typeof tempDir>; policiesDir: string; auditFile: string; config: ServerConfig } {
  const t = tempDir();
  const policiesDir = path.join(t.dir, 'policies');
  if (policyFiles) {
    cpSync('examples/policies', policiesDir, { recursive: true, filter: () => false });
    tempDirWrite(policiesDir, policyFiles);
  } else {
    cpSync('examples/policies', policiesDir, { recursive: true });
  }
  const auditFile = path.join(t.dir, 'audit.jsonl');
  const config = ServerConfigSchema.parse({ port: 0, metricsPort: 0, policies: policiesDir, auditFile, logLevel: 'silent', shutdownGraceMs: 2000, ...overrides });
  return { t, policiesDir, auditFile, config };
}

/** What a test needs of a started service, whichever its form. */
function handles(service: AuthzService, t: ReturnType<typeof tempDir>, auditFile: string): Pick<TestServer, 'addr' | 'auditFile' | 'dir' | 'auditRecords' | 'metrics' | 'stop'> {
  let stopped = false;
  return {
    addr: `127.0.0.1:${service.grpcPort}`,
    auditFile,
    dir: t.dir,
    auditRecords: () => readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, unknown>),
    metrics: async () => (await fetch(`http://127.0.0.1:${service.metricsPort}/metrics`)).text(),
    stop: async () => {
      if (!stopped) await service.close();
      stopped = true;
      t.remove();
    },
  };
}

/** Starts the real service on loopback, ephemeral ports, with a copy of examples/policies (or given files). */
export async function startTestServer(overrides: Partial<ServerConfig> = {}, policyFiles?: Record<string, string>): Promise<TestServer> {
  const { t, policiesDir, auditFile, config } = prepare(overrides, policyFiles);
  const server = await startAuthzServer(config, { logger: createLogger('silent'), defaultMetrics: false });
  return { server, policiesDir, ...handles(server, t, auditFile) };
}

import { mkdirSync, writeFileSync } from 'node:fs';
function tempDirWrite(dir: string, files: Record<string, string>): void {
  mkdirSync(dir, { recursive: true });
  for (const [k, v] of Object.entries(files)) writeFileSync(path.join(dir, k), v);
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

/** The service with its decision thread (`--decisions thread`), as `phiguard serve` runs it by default. */
export interface ThreadedTestServer {
  service: AuthzService;
  addr: string;
  auditFile: string;
  dir: string;
  /** The decision thread (to test its failure path). */
  thread(): Worker;
  auditRecords(): Array<Record<string, unknown>>;
  metrics(): Promise<string>;
  readyz(): Promise<{ status: number; body: Record<string, unknown> }>;
  stop(): Promise<void>;
}

export async function startThreadedTestServer(overrides: Partial<ServerConfig> = {}, options: Pick<ThreadedStartOptions, 'onFailure' | 'chunk'> = {}): Promise<ThreadedTestServer> {
  const { t, auditFile, config } = prepare(overrides);
  let worker: Worker | undefined;
  const service = await startThreadedAuthzServer(config, { logger: createLogger('silent'), defaultMetrics: false, onThread: (w) => { worker = w; }, ...options });
  return {
    service,
    ...handles(service, t, auditFile),
    thread: () => {
      if (worker === undefined) throw new Error('no decision thread');
      return worker;
    },
    readyz: async () => {
      const r = await fetch(`http://127.0.0.1:${service.metricsPort}/readyz`);
      return { status: r.status, body: (await r.json()) as Record<string, unknown> };
    },
  };
}
