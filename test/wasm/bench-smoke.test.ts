/**
 * `npm run bench:wasm`'s core with a tiny count, against the service in this process: every class of the mix is
 * measured in the proxy (the three program variants, `--defer-to next-filter` among them) and over the round trip,
 * the service agrees with each in-proxy decision, and the report is complete and ordered (p50 ≤ p99 ≤ max).
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, test } from '@jest/globals';
import { formatReport, runWasmBench, writeBenchPolicies, type Summary } from '../../bench/wasm.js';
import { startTestServer, type TestServer } from '../helpers/server.js';

let server: TestServer;
let dir: string;
beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'phiguard-bench-wasm-'));
  writeBenchPolicies(dir);
  const files = Object.fromEntries(readdirSync(dir).map((f) => [f, readFileSync(path.join(dir, f), 'utf8')]));
  server = await startTestServer({}, files);
}, 60_000);
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

const sane = (s: Summary | undefined): void => {
  expect(s).toBeDefined();
  if (!s) return;
  expect(s.n).toBeGreaterThan(0);
  expect(s.p50).toBeGreaterThan(0);
  expect(s.p50).toBeLessThanOrEqual(s.p99);
  expect(s.p99).toBeLessThanOrEqual(s.max);
};

test('the benchmark measures every class in the proxy and over the round trip', async () => {
  const report = await runWasmBench({
    policiesDir: server.policiesDir,
    phiguardAddress: server.addr,
    requests: 140,
    warmup: 14,
    checks: 28,
    checkWarmup: 14,
    concurrency: 2,
    rounds: 2,
  });
  expect(report.module.bytes).toBeGreaterThan(report.module.gzipBytes);
  expect(Object.values(report.programs['allow-in-proxy'].classes).sort()).toEqual(
    expect.arrayContaining(['allow', 'deferred', 'deny', 'invalid']),
  );
  expect(Object.values(report.programs['deny-only'].classes)).not.toContain('allow');
  for (const label of ['deny', 'allow', 'invalid', 'decided', 'deferred', 'deferred-answer'])
    sane(report.inProxy['allow-in-proxy'][label]);
  // 140 requests in 2 rounds: 5 cycles of the 14 per round, 11 decided in each.
  expect(report.inProxy['allow-in-proxy']['decided']?.n).toBe(110);
  expect(report.inProxy['deny-only']['allow']).toBeUndefined();
  // --defer-to next-filter: denies in the proxy, the rest continues with no call; timed to Continue, then the end.
  expect(Object.values(report.programs['next-filter'].classes)).toEqual(
    Object.values(report.programs['deny-only'].classes),
  );
  const nextFilter = report.inProxy['next-filter'];
  for (const label of ['deny', 'invalid', 'decided', 'deferred', 'deferred-end']) sane(nextFilter[label]);
  expect(nextFilter['allow']).toBeUndefined();
  expect(nextFilter['deferred-answer']).toBeUndefined();
  // 8 of the 14 decided (4 denies, 4 invalid), 6 deferred: 5 cycles per round, 2 rounds.
  expect(nextFilter['decided']?.n).toBe(80);
  expect(nextFilter['deferred']?.n).toBe(60);
  expect(report.ratios.nextFilterOverheadP50).toBeGreaterThan(0);
  expect(Object.keys(report.roundTrip).sort()).toEqual(['phiguard c=1', 'phiguard c=2']);
  for (const s of Object.values(report.roundTrip)) {
    for (const label of ['deny', 'allow', 'invalid', 'decided', 'deferred', 'all']) sane(s[label]);
    expect(s['all']?.n).toBe(28);
  }
  expect(report.ratios.decidedP50).toBeGreaterThan(0);
  expect(report.ratios.decidedVsBareP50).toBeUndefined();
  expect(report.ratios.deferredOverheadVsBareP50).toBeUndefined();
  const text = formatReport(report);
  expect(text).toContain('in-proxy decision / phiguard round trip');
  expect(text).toContain('deferred: to Continue (no call)');
  expect(text).toContain('next-filter deferred: filter work');
}, 60_000);
