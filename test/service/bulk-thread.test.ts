/**
 * Large Checks on the bulk decision thread (`--bulk-check-bytes`, start-threaded.ts) and the per-connection stream
 * bound (`--http2-max-streams`): a Check routed to the bulk thread gets the same decision as on the decision thread,
 * both threads write whole audit lines to the one audit file, and the listener advertises the stream bound.
 */
import http2 from 'node:http2';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { bundleBody } from '../../bench/isolation-payloads.js';
import { exampleRequest, MIXED_CHECKS, startThreadedTestServer, type ThreadedTestServer } from '../helpers/server.js';

const code = (res: Record<string, unknown>): number => (res['status'] as { code: number }).code;

/** The example transaction with a Bundle of `entries` DocumentReference creates of about `bytes`. */
function largeBundle(entries: number, bytes: number): Record<string, unknown> {
  const example = exampleRequest('scribe-note-transaction.json') as {
    attributes: { request: { http: Record<string, unknown> } };
  };
  example.attributes.request.http['body'] = bundleBody(entries, bytes);
  return toGrpcCheckRequest(CheckInputSchema.parse(example));
}

describe('the bulk decision thread', () => {
  let s: ThreadedTestServer;
  let client: CheckClient;
  beforeAll(async () => {
    // 1 KiB: the example transaction Bundle goes to the bulk thread, the example read does not.
    s = await startThreadedTestServer({ bulkCheckBytes: 1024, http2MaxStreams: 7 });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
  });

  test('Checks on both threads get their decisions, each audited in a whole line of the one file', async () => {
    const checks = [...MIXED_CHECKS, ...MIXED_CHECKS];
    const answers = await Promise.all(
      checks.map((c) => client.check(toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(c.file))))),
    );
    expect(answers.map(code)).toEqual(checks.map((c) => c.code));
    const big = await client.check(largeBundle(300, 512 * 1024), 30_000);
    expect(code(big)).toBe(0);
    await s.service.close();
    const rules = s.auditRecords().map((r) => r['rule']);
    expect(rules).toHaveLength(checks.length + 1);
    expect(rules.filter((r) => r === 'note-transaction')).toHaveLength(3);
  });
});

describe('the bulk thread speaks through the decision thread’s /metrics, /healthz and /readyz', () => {
  test('its decisions are counted in /metrics', async () => {
    const s = await startThreadedTestServer({ bulkCheckBytes: 1024 });
    const client = createCheckClient(s.addr);
    try {
      const bundle = toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest('scribe-note-transaction.json')));
      for (let i = 0; i < 3; i++) expect(code(await client.check(bundle))).toBe(0);
      const series =
        'phiguard_decisions_total{agent="ambient-scribe",decision="allow",reason="rule-allow",rule="note-transaction"} 3';
      let text = '';
      for (let tries = 0; tries < 50 && !text.includes(series); tries++) {
        text = await s.metrics();
        if (!text.includes(series)) await new Promise((r) => setTimeout(r, 50));
      }
      expect(text).toContain(series);
      expect(text).toMatch(/phiguard_grpc_checks_total\{code="OK",http_status="200"\} 3\b/);
    } finally {
      client.close();
      await s.stop();
    }
  });

  test('its audit sink failing fails /healthz and /readyz (its large Checks are denied audit-unavailable)', async () => {
    // Only the bulk thread writes: every decision's AuditEvent goes to a device that refuses writes (ENOSPC).
    const s = await startThreadedTestServer({ bulkCheckBytes: 1024, auditEventFile: '/dev/full', auditEvents: 'all' });
    const client = createCheckClient(s.addr);
    try {
      expect((await s.healthz()).status).toBe(200);
      const bundle = toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest('scribe-note-transaction.json')));
      expect(code(await client.check(bundle))).not.toBe(0);
      let health = await s.healthz();
      for (let tries = 0; tries < 50 && health.status === 200; tries++) {
        await new Promise((r) => setTimeout(r, 50));
        health = await s.healthz();
      }
      expect(health).toMatchObject({ status: 503, body: { reason: 'audit-sink-failed' } });
      expect((await s.readyz()).status).toBe(503);
    } finally {
      client.close();
      await s.stop();
    }
  });
});

test('the listener advertises --http2-max-streams as SETTINGS_MAX_CONCURRENT_STREAMS', async () => {
  const s = await startThreadedTestServer({ http2MaxStreams: 7 });
  try {
    const session = http2.connect(`http://${s.addr}`);
    const settings = await new Promise<http2.Settings>((resolve) => session.once('remoteSettings', resolve));
    session.close();
    expect(settings.maxConcurrentStreams).toBe(7);
  } finally {
    await s.stop();
  }
});
