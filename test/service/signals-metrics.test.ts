/**
 * The metrics conventions, held against `phiguard serve` as a process (as in the pod: the decision thread serves
 * /metrics, process metrics on): docs/operations.md's metrics table is what /metrics exposes, metric by metric and
 * label by label, right after startup and after a few Checks; counters of known label sets exist at 0 before the
 * first Check; the process metrics keep prom-client's standard names; `phiguard_build_info` names the versions.
 * docs/operations.md's reason table is the closed set `DECISION_REASONS`.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair } from 'jose';
import { CheckInputSchema, DECISION_REASONS } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../../generator/call/index.js';
import { eventually } from '../helpers/cli.js';
import { startServeProcess, type ServeProcess } from '../helpers/serve-process.js';
import { exampleRequest, MIXED_CHECKS } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const DOC = readFileSync('docs/operations.md', 'utf8');

/** The rows of the docs/operations.md table whose header row starts with `header`: cells, backticks removed. */
function table(header: string): string[][] {
  const lines = DOC.split('\n');
  const start = lines.findIndex((l) => l.startsWith(header));
  if (start < 0) throw new Error(`docs/operations.md has no table "${header}"`);
  const rows: string[][] = [];
  for (const line of lines.slice(start + 2)) {
    if (!line.startsWith('|')) break;
    rows.push(
      line
        .split('|')
        .slice(1, -1)
        .map((c) => c.trim()),
    );
  }
  return rows;
}

/** docs/operations.md's metrics: name (or `prefix_*`) -> its label names. */
const DOCUMENTED = new Map<string, string[]>();
for (const [names = '', , labels = ''] of table('| metric | type | labels |'))
  for (const name of names.split(',').map((n) => n.replace(/`/g, '').trim()))
    DOCUMENTED.set(
      name,
      labels
        .replace(/`/g, '')
        .split(',')
        .map((l) => l.trim())
        .filter(Boolean),
    );

/** Documented metrics that appear only once what they count has happened at least once. */
const ON_FIRST_EVENT = new Set(['phiguard_contained', 'phiguard_audit_errors_total']);

interface Family {
  labels: Set<string>;
  samples: Array<{ labels: Record<string, string>; value: number }>;
}

/** Metric families of a text exposition (histogram series under their family name, `le` dropped). */
function families(text: string): Map<string, Family> {
  const types = new Map<string, string>();
  for (const m of text.matchAll(/^# TYPE (\S+) (\S+)$/gm)) if (m[1] && m[2]) types.set(m[1], m[2]);
  const out = new Map<string, Family>();
  for (const line of text.split('\n')) {
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m?.[1]) continue;
    const base = m[1].replace(/_(bucket|sum|count)$/, '');
    const name = types.get(base) === 'histogram' ? base : m[1];
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g))
      if (l[1] && l[1] !== 'le') labels[l[1]] = l[2] ?? '';
    const f = out.get(name) ?? { labels: new Set<string>(), samples: [] };
    for (const k of Object.keys(labels)) f.labels.add(k);
    f.samples.push({ labels, value: Number(m[3]) });
    out.set(name, f);
  }
  return out;
}

const documentedAs = (name: string): string | undefined =>
  DOCUMENTED.has(name) ? name : [...DOCUMENTED.keys()].find((k) => k.endsWith('*') && name.startsWith(k.slice(0, -1)));

const value = (f: Family | undefined, labels: Record<string, string>): number | undefined =>
  f?.samples.find((s) => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value;

/** What is wrong between an exposition and docs/operations.md's table ([] when nothing). */
function mismatches(exposed: Map<string, Family>): string[] {
  const out: string[] = [];
  for (const [name, f] of exposed) {
    const doc = documentedAs(name);
    if (doc === undefined) out.push(`${name} is exposed but not in docs/operations.md's metrics table`);
    else if (!doc.endsWith('*') && [...f.labels].sort().join(',') !== [...(DOCUMENTED.get(doc) ?? [])].sort().join(','))
      out.push(
        `${name} has labels {${[...f.labels].join(',')}}, docs/operations.md says {${DOCUMENTED.get(doc)?.join(',')}}`,
      );
  }
  for (const name of DOCUMENTED.keys())
    if (!name.endsWith('*') && !exposed.has(name) && !ON_FIRST_EVENT.has(name))
      out.push(`${name} is in docs/operations.md's metrics table but not exposed`);
  return out;
}

describe('metrics conventions, through phiguard serve', () => {
  const t = tempDir();
  let serve: ServeProcess | undefined;
  let idp: http.Server | undefined;
  let atStart = new Map<string, Family>();
  let afterChecks = new Map<string, Family>();

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
    const server = http.createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end(jwks);
    });
    idp = server;
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
    const uri = `http://127.0.0.1:${(server.address() as AddressInfo).port}/.well-known/jwks.json`;
    serve = await startServeProcess([
      '--policies',
      'examples/policies',
      '--audit-file',
      path.join(t.dir, 'audit.jsonl'),
      '--jwks-uri',
      uri,
      '--jwt-issuer',
      'https://idp.test',
      '--jwt-audience',
      'phiguard',
    ]);
    const metricsUrl = /metrics\/health: (http:\/\/\S+\/metrics)/.exec(serve.stderr())?.[1] ?? '';
    const scrape = async () => families(await (await fetch(metricsUrl)).text());
    // Ready once the key set is fetched (readiness waits for it).
    await eventually(async () => (await fetch(metricsUrl.replace('/metrics', '/readyz'))).status === 200, 15_000);
    atStart = await scrape();
    const client = createCheckClient(serve.address);
    try {
      for (const c of MIXED_CHECKS)
        await client.check(toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(c.file))));
    } finally {
      client.close();
    }
    afterChecks = await scrape();
  }, 60_000);

  afterAll(async () => {
    serve?.child.kill('SIGTERM');
    await serve?.exited;
    await new Promise<void>((r) => (idp ? idp.close(() => r()) : r()));
    t.remove();
  });

  test("docs/operations.md's metrics table is what /metrics exposes at startup", () => {
    expect(mismatches(atStart).filter((m) => !m.startsWith('phiguard_check_duration_seconds '))).toEqual([]);
  });

  test("docs/operations.md's metrics table is what /metrics exposes after a few Checks", () => {
    expect(mismatches(afterChecks)).toEqual([]);
  });

  test('a mismatch is found: an undocumented metric and a wrong label set fail the comparison', () => {
    const fake = new Map(afterChecks);
    fake.set('phiguard_undocumented_total', { labels: new Set(), samples: [] });
    fake.set('phiguard_policy_stale', { labels: new Set(['extra']), samples: [] });
    fake.delete('phiguard_build_info');
    expect(mismatches(fake)).toEqual([
      'phiguard_policy_stale has labels {extra}, docs/operations.md says {}',
      "phiguard_undocumented_total is exposed but not in docs/operations.md's metrics table",
      "phiguard_build_info is in docs/operations.md's metrics table but not exposed",
    ]);
  });

  test('process metrics keep their standard names; nothing of prom-client is renamed with our prefix', () => {
    for (const name of ['process_cpu_seconds_total', 'process_resident_memory_bytes', 'process_start_time_seconds'])
      expect(atStart.has(name)).toBe(true);
    expect(atStart.has('nodejs_eventloop_lag_seconds')).toBe(true);
    expect([...atStart.keys()].filter((n) => /^phiguard_(process|nodejs)_/.test(n))).toEqual([]);
  });

  test('phiguard_build_info names the phiguard and Node.js versions', () => {
    const version = (JSON.parse(readFileSync('package.json', 'utf8')) as { version: string }).version;
    expect(atStart.get('phiguard_build_info')?.samples).toEqual([
      { labels: { version, node: process.versions.node }, value: 1 },
    ]);
  });

  test('counters of known label sets exist at 0 before the first Check, and count from there', () => {
    const zero: Array<[string, Record<string, string>]> = [
      ['phiguard_grpc_checks_total', { code: 'OK', http_status: '200' }],
      ['phiguard_grpc_checks_total', { code: 'PERMISSION_DENIED', http_status: '403' }],
      ['phiguard_grpc_checks_total', { code: 'PERMISSION_DENIED', http_status: '503' }],
      ['phiguard_decisions_total', { agent: 'ambient-scribe', decision: 'allow', reason: 'rule-allow' }],
      ['phiguard_decisions_total', { agent: 'ambient-scribe', reason: 'no-rule-matched', rule: 'default-deny' }],
      ['phiguard_decisions_total', { agent: '', reason: 'unknown-agent', rule: 'default-deny-unknown-principal' }],
      ['phiguard_break_glass_total', { agent: 'ambient-scribe', class: 'code-blue', result: 'opened' }],
      ['phiguard_break_glass_total', { agent: 'ambient-scribe', class: 'code-blue', result: 'expired' }],
      ['phiguard_policy_reloads_total', { result: 'failure' }],
      ['phiguard_jwks_fetch_total', { result: 'failure' }],
    ];
    for (const [name, labels] of zero)
      expect([name, labels, value(atStart.get(name), labels)]).toEqual([name, labels, 0]);
    expect(value(atStart.get('phiguard_jwks_fetch_total'), { result: 'success' })).toBeGreaterThanOrEqual(1);
    expect(value(atStart.get('phiguard_jwks_keys_available'), { source: 'url' })).toBe(1);
    const answers = afterChecks.get('phiguard_grpc_checks_total');
    expect(value(answers, { code: 'OK', http_status: '200' })).toBe(MIXED_CHECKS.filter((c) => c.code === 0).length);
    expect(value(answers, { code: 'PERMISSION_DENIED', http_status: '403' })).toBe(
      MIXED_CHECKS.filter((c) => c.code === 7).length,
    );
  });

  test("docs/operations.md's reason table is DECISION_REASONS, each reason once", () => {
    const listed = table('| reason | meaning |').flatMap(([cell = '']) =>
      [...cell.matchAll(/`([a-z-]+)`/g)].map((m) => m[1]),
    );
    expect([...listed].sort()).toEqual(Object.values(DECISION_REASONS).sort());
  });
});
