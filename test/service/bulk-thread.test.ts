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
