/**
 * The gRPC thread <-> decision thread protocol (authz/transport/decision-thread-protocol.ts): batches pack and unpack
 * byte for byte, inconsistent batches are recognised, the schemas refuse what the protocol does not allow, and the
 * decision thread itself, handed a message outside the protocol, flushes its audit trail and stops (the gRPC thread
 * then denies).
 */
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import {
  batchConsistent,
  FromEngineSchema,
  packBytes,
  ToEngineSchema,
  unpackItem,
} from '../../authz/transport/decision-thread-protocol.js';
import { ServerConfigSchema } from '../../authz/index.js';
import { startWorkerChannel } from '../../authz/transport/worker-channel.js';
import { tempDir } from '../helpers/temp.js';

const u8 = (...xs: number[]): Uint8Array => Uint8Array.from(xs);

describe('packing', () => {
  test.each([
    ['none', []],
    ['one', [u8(1, 2, 3)]],
    ['with empty items', [u8(), u8(9), u8(), u8(7, 7)]],
    ['many', Array.from({ length: 50 }, (_, i) => Uint8Array.from({ length: i * 13 }, (_, j) => (i + j) & 0xff))],
  ])('%s: every item comes back byte for byte', (_name, items) => {
    const { bytes, ends } = packBytes(items);
    expect(ends).toHaveLength(items.length);
    expect(batchConsistent({ bytes, ends, seqs: ends.map((_, i) => i) })).toBe(true);
    items.forEach((it, i) => expect(Buffer.compare(unpackItem(bytes, ends, i), Buffer.from(it))).toBe(0));
  });

  test.each([
    ['seqs shorter than ends', { bytes: new ArrayBuffer(4), ends: [2, 4], seqs: [0] }],
    ['t0s shorter than ends', { bytes: new ArrayBuffer(4), ends: [2, 4], seqs: [0, 1], t0s: [1] }],
    ['ends going backwards', { bytes: new ArrayBuffer(4), ends: [3, 2], seqs: [0, 1] }],
    ['ends past the buffer', { bytes: new ArrayBuffer(4), ends: [2, 5], seqs: [0, 1] }],
  ])('inconsistent: %s', (_name, b) => {
    expect(batchConsistent(b)).toBe(false);
  });
});

describe('schemas', () => {
  test.each([
    ['unknown type', { t: 'checkz' }],
    ['bytes not an ArrayBuffer', { t: 'checks', bytes: [1, 2], ends: [2], seqs: [0], t0s: [1] }],
    ['negative seq', { t: 'checks', bytes: new ArrayBuffer(2), ends: [2], seqs: [-1], t0s: [1] }],
    ['fractional end', { t: 'checks', bytes: new ArrayBuffer(2), ends: [1.5], seqs: [0], t0s: [1] }],
    ['no arrival times', { t: 'checks', bytes: new ArrayBuffer(2), ends: [2], seqs: [0] }],
  ])('to the decision thread, refused: %s', (_name, m) => {
    expect(ToEngineSchema.safeParse(m).success).toBe(false);
  });

  test.each([
    ['answers without seqs', { t: 'answers', bytes: new ArrayBuffer(2), ends: [2] }],
    ['startup failure without findings', { t: 'startup-failed', message: 'x' }],
    [
      'a finding of unknown severity',
      {
        t: 'startup-failed',
        message: 'x',
        findings: [{ code: 'c', severity: 'fatal', file: 'f', document: 0, path: '', message: 'm' }],
      },
    ],
    ['closed with a negative count', { t: 'closed', audited: -1 }],
  ])('from the decision thread, refused: %s', (_name, m) => {
    expect(FromEngineSchema.safeParse(m).success).toBe(false);
  });

  test('what the sides send is accepted', () => {
    const { bytes, ends } = packBytes([u8(1), u8(2, 3)]);
    expect(ToEngineSchema.safeParse({ t: 'checks', bytes, ends, seqs: [0, 1], t0s: [1.5, 2.5] }).success).toBe(true);
    expect(FromEngineSchema.safeParse({ t: 'answers', bytes, ends, seqs: [0, 1] }).success).toBe(true);
    const started = { t: 'started', metricsPort: 1, policyVersion: 'v', agents: ['a'] };
    expect(FromEngineSchema.safeParse(started).success).toBe(true);
  });
});

describe('the decision thread handed a message outside the protocol', () => {
  test.each([
    ['garbage', { hello: 'world' }],
    ['an inconsistent batch', { t: 'checks', bytes: new ArrayBuffer(2), ends: [9], seqs: [0], t0s: [1] }],
  ])('%s: it flushes the audit trail and exits with code 70', async (_name, message) => {
    const t = tempDir();
    const auditFile = path.join(t.dir, 'audit.jsonl');
    const config = ServerConfigSchema.parse({
      port: 0,
      metricsPort: 0,
      policies: 'examples/policies',
      auditFile,
      logLevel: 'silent',
    });
    const { worker } = startWorkerChannel({
      beside: new URL('../../authz/service/start-threaded.ts', import.meta.url).href,
      entry: 'decision-thread',
      workerData: { config, defaultMetrics: false },
      schema: FromEngineSchema,
      onMessage: () => undefined,
      onFailure: () => undefined,
    });
    const exited = new Promise<number>((resolve) => worker.once('exit', resolve));
    const started = await new Promise<unknown>((resolve) => worker.once('message', resolve));
    expect(FromEngineSchema.parse(started).t).toBe('started');
    worker.postMessage(message);
    expect(await exited).toBe(70);
    t.remove();
  });
});
