/**
 * The two audit sinks, inline (sink.ts) and writer thread (threaded-sink.ts, the service's default), hold the same
 * contract: records land in order as the documented JSON lines, a sink that cannot write refuses every later record
 * (the caller denies), the buffer bound refuses instead of dropping, and close() writes everything accepted.
 * The thread sink runs its real worker thread here (from the TypeScript sources, through tsx's loader).
 */
import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  ClaimsConfigSchema,
  createAuthorizer,
  policyOnlySnapshot,
  createClaimsResolver,
  readPolicyDir,
} from '../../authz/index.js';
import { checkInputFor } from '../../generator/explain/index.js';
import {
  createAuditSink,
  createThreadedAuditSink,
  decisionRecord,
  decisionRow,
  type AuditSink,
} from '../../authz/audit/index.js';
import type { AuditSinkOptions } from '../../authz/audit/sink.js';
import { tempDir } from '../helpers/temp.js';

const loaded = readPolicyDir('examples/policies');
if (!loaded.ok) throw new Error('example policies did not load');
const set = loaded.value.set;
const authorizer = createAuthorizer({
  snapshot: () => policyOnlySnapshot(set),
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir'],
});
const scribe = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const requests = [
  { method: 'GET', path: '/fhir/Encounter?patient=p-1001' },
  { method: 'GET', path: '/fhir/Observation?code=8867-4' },
  { method: 'GET', path: '/fhir/Patient/p-"7"\\\u0001é😀' },
];
const at = new Date('2026-11-25T10:00:00.123Z');

const sinks: Array<[string, (o: AuditSinkOptions) => AuditSink]> = [
  ['inline', createAuditSink],
  ['writer thread', createThreadedAuditSink],
];

const lines = (file: string): string[] => readFileSync(file, 'utf8').split('\n').filter(Boolean);

describe.each(sinks)('audit sink (%s)', (_name, create) => {
  test('writes decision rows and other records in order, as the documented JSON lines; close() flushes', async () => {
    const t = tempDir();
    const file = path.join(t.dir, 'audit.jsonl');
    const sink = create({ target: file });
    await sink.ready();
    expect(sink.healthy()).toBe(true);
    const expected: string[] = [];
    for (const [i, r] of requests.entries()) {
      const a = await authorizer.authorize(
        checkInputFor({ principal: scribe, method: r.method, path: r.path, headers: {} }),
      );
      const id = `decision-${i}`;
      expect(sink.writeDecision(decisionRow(id, a.decision, a.attributes, 100 + i, at.getTime()))).toBe(true);
      expected.push(JSON.stringify(decisionRecord(id, a.decision, a.attributes, 100 + i, at)));
      expect(sink.write({ type: 'other', n: i })).toBe(true);
      expected.push(JSON.stringify({ type: 'other', n: i }));
    }
    expect(sink.written()).toBe(6);
    await sink.close();
    expect(lines(file)).toEqual(expected);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(sink.healthy()).toBe(false);
    expect(sink.write({ type: 'late' })).toBe(false);
    t.remove();
  });

  test('a target that cannot be opened: ready() resolves, the sink is unhealthy and refuses every record', async () => {
    const codes: string[] = [];
    const sink = create({ target: '/nonexistent-dir/phiguard/audit.jsonl', onError: (c) => codes.push(c) });
    await sink.ready();
    expect(sink.healthy()).toBe(false);
    expect(codes).toEqual(['ENOENT']);
    expect(sink.write({ type: 'x' })).toBe(false);
    await sink.close();
  });

  test('a target that fails on write (ENOSPC) refuses every later record', async () => {
    const codes: string[] = [];
    const sink = create({ target: '/dev/full', onError: (c) => codes.push(c) });
    await sink.ready();
    expect(sink.write({ type: 'x' })).toBe(true);
    const end = Date.now() + 5000;
    while (sink.healthy() && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    expect(sink.healthy()).toBe(false);
    expect(codes).toEqual(['ENOSPC']);
    expect(sink.write({ type: 'y' })).toBe(false);
    await sink.close();
  });

  test('the buffer bound refuses records instead of dropping them; every accepted record is written', async () => {
    const t = tempDir();
    const file = path.join(t.dir, 'audit.jsonl');
    const sink = create({ target: file, maxBufferBytes: 4096 });
    await sink.ready();
    const record = { type: 'padding', text: 'x'.repeat(900) };
    const results = Array.from({ length: 12 }, () => sink.write(record));
    expect(results.slice(0, 4)).toEqual([true, true, true, true]);
    expect(results.slice(8)).toEqual([false, false, false, false]);
    expect(sink.bufferedBytes()).toBeGreaterThan(4096);
    const accepted = results.filter(Boolean).length;
    expect(sink.written()).toBe(accepted);
    // Once written, the buffer drains and records are accepted again.
    const end = Date.now() + 5000;
    while (!sink.write(record) && Date.now() < end) await new Promise((r) => setTimeout(r, 10));
    await sink.close();
    expect(lines(file)).toHaveLength(accepted + 1);
    t.remove();
  });
});
