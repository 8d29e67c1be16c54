/**
 * The worker channel (authz/transport/worker-channel.ts), with a real worker thread (worker-channel-entry.ts, from
 * the TypeScript sources through tsx's loader): each way a worker can fail its channel reaches the parent as one
 * failure with its code, a message outside the protocol stops the worker with FATAL_EXIT_CODE, and the close
 * handshake resolves with no failure.
 */
import { describe, expect, test } from '@jest/globals';
import { z } from 'zod';
import { FATAL_EXIT_CODE, startWorkerChannel, type WorkerChannel } from '../../authz/transport/worker-channel.js';

const FromEntrySchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('ready') }),
  z.object({ t: z.literal('pong'), n: z.number().int().nonnegative() }),
  z.object({ t: z.literal('fatal'), code: z.string() }),
  z.object({ t: z.literal('closed'), pings: z.number().int() }),
]);
type FromEntry = z.infer<typeof FromEntrySchema>;
type ToEntry = { t: 'ping'; n: number } | { t: 'close' };

interface Started {
  channel: WorkerChannel<ToEntry>;
  messages: FromEntry[];
  failures: string[];
  /** Resolves with the first failure's code. */
  failed: Promise<string>;
  /** Resolves once a message of type `t` has arrived. */
  next(t: FromEntry['t']): Promise<FromEntry>;
  exitCode: Promise<number>;
}

function start(mode: string): Started {
  const messages: FromEntry[] = [];
  const failures: string[] = [];
  const waiting: Array<{ t: string; resolve: (m: FromEntry) => void }> = [];
  let onFailed: (code: string) => void = () => undefined;
  const failed = new Promise<string>((resolve) => {
    onFailed = resolve;
  });
  const channel = startWorkerChannel<FromEntry, ToEntry>({
    beside: import.meta.url,
    entry: 'worker-channel-entry',
    workerData: { mode },
    schema: FromEntrySchema,
    onMessage: (m) => {
      messages.push(m);
      for (const w of waiting.splice(0)) {
        if (w.t === m.t) w.resolve(m);
        else waiting.push(w);
      }
    },
    onFailure: (code) => {
      failures.push(code);
      onFailed(code);
    },
  });
  const exitCode = new Promise<number>((resolve) => channel.worker.once('exit', resolve));
  const next = (t: FromEntry['t']): Promise<FromEntry> => {
    const seen = messages.find((m) => m.t === t);
    return seen ? Promise.resolve(seen) : new Promise((resolve) => waiting.push({ t, resolve }));
  };
  return { channel, messages, failures, failed, next, exitCode };
}

const FATAL_EXIT = `worker-channel-entry-exited-${FATAL_EXIT_CODE}`;

describe('a worker that fails its channel: one failure, with its code', () => {
  test.each([
    ['sends a message the schema refuses', 'invalid', undefined, 'worker-channel-entry-invalid-message'],
    ['exits on its own', 'exit', undefined, 'worker-channel-entry-exited-3'],
    ['throws', 'throw', undefined, 'worker-channel-entry-crashed'],
    ['is sent a message outside the protocol (it stops itself)', 'serve', { t: 'pong' }, FATAL_EXIT],
    ['is sent a valid message it finds broken (fatal)', 'serve', { t: 'ping', n: -1 }, FATAL_EXIT],
  ])('%s', async (_name, mode, send, code) => {
    const s = start(mode);
    if (send !== undefined) {
      await s.next('ready');
      s.channel.worker.postMessage(send);
    }
    expect(await s.failed).toBe(code);
    await s.exitCode;
    await new Promise((r) => setImmediate(r));
    expect(s.failures).toEqual([code]);
    expect(s.channel.failure()).toBe(code);
    await s.channel.close();
  });

  test.each([
    ['outside the protocol', { t: 'pong' }, 'invalid-message'],
    ['fatal', { t: 'ping', n: -1 }, 'negative-ping'],
  ])('a worker stopping on a message %s runs its fatal path, drops what follows', async (_name, send, code) => {
    const s = start('serve');
    await s.next('ready');
    s.channel.worker.postMessage(send);
    s.channel.post({ t: 'ping', n: 1 });
    expect(await s.exitCode).toBe(FATAL_EXIT_CODE);
    expect(s.messages).toEqual([{ t: 'ready' }, { t: 'fatal', code }]);
  });
});

describe('the parent end', () => {
  test('close handshake: messages in order, `closed` answered, close() resolves, the exit is no failure', async () => {
    const s = start('serve');
    await s.next('ready');
    for (const n of [1, 2, 3]) s.channel.post({ t: 'ping', n });
    const closing = s.channel.close();
    expect(s.channel.close()).toBe(closing);
    await closing;
    expect(s.messages).toEqual([
      { t: 'ready' },
      { t: 'pong', n: 1 },
      { t: 'pong', n: 2 },
      { t: 'pong', n: 3 },
      { t: 'closed', pings: 3 },
    ]);
    await s.exitCode;
    expect(s.failures).toEqual([]);
    expect(s.channel.failure()).toBeUndefined();
  });

  test('the close handshake with a worker already gone resolves', async () => {
    const s = start('exit');
    await s.exitCode;
    await s.channel.close();
    expect(s.failures).toEqual(['worker-channel-entry-exited-3']);
  });

  test('terminate() ends the worker without the handshake, and without a failure', async () => {
    const s = start('serve');
    await s.next('ready');
    await s.channel.terminate();
    await s.exitCode;
    expect(s.failures).toEqual([]);
  });

  test("fail(): the caller's code, once; later failures are not reported", async () => {
    const s = start('serve');
    await s.next('ready');
    s.channel.fail('inconsistent-pongs');
    s.channel.fail('another');
    s.channel.worker.postMessage({ t: 'pong' });
    await s.exitCode;
    expect(s.failures).toEqual(['inconsistent-pongs']);
    s.channel.post({ t: 'ping', n: 1 });
    await s.channel.close();
  });
});
