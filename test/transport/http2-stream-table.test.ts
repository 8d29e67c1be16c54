/**
 * The HTTP/2 stream table (authz/transport/http2-stream-table.ts) on a real grpc-js server over loopback: the swap
 * takes effect
 * on each session (a Node release that moves the session's stream Map fails here), concurrent calls on one
 * connection are each answered and leave the table empty, and a session destroyed with streams open (Node walks the
 * table with forEach and each destroy deletes its entry) leaves the server serving.
 */
import http2 from 'node:http2';
import { afterEach, beforeEach, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { applyStreamTable, sessionStreams, useStreamTable } from '../../authz/transport/http2-stream-table.js';
import { onHttp2Server } from '../../authz/transport/http2-server-hook.js';
import { IdTable } from '../../authz/transport/id-table.js';

const PATH = '/test.Echo/Echo';

/** The stream table of a server session: Node's internal `session[kState].streams`. */
const streamsOf = (session: http2.ServerHttp2Session): unknown => sessionStreams(session)?.streams;

interface Running {
  port: number;
  sessions: http2.ServerHttp2Session[];
  maxOpen: () => number;
  hold: Set<() => void>;
  server: grpc.Server;
  misses: () => number;
}

async function start(): Promise<Running> {
  const server = new grpc.Server();
  let misses = 0;
  expect(
    applyStreamTable(server, () => {
      misses++;
    }),
  ).toBe(true);
  const sessions: http2.ServerHttp2Session[] = [];
  expect(onHttp2Server(server, (h2) => h2.on('session', (s: http2.ServerHttp2Session) => sessions.push(s)))).toBe(true);
  let maxOpen = 0;
  const hold = new Set<() => void>();
  server.addService(
    {
      Echo: {
        path: PATH,
        requestStream: false,
        responseStream: false,
        originalName: 'Echo',
        requestSerialize: (v: Buffer) => v,
        requestDeserialize: (b: Buffer) => b,
        responseSerialize: (v: Buffer) => v,
        responseDeserialize: (b: Buffer) => b,
      },
    },
    {
      Echo: (call: grpc.ServerUnaryCall<Buffer, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const table = sessions.map(streamsOf).find((t) => t instanceof IdTable);
        if (table instanceof IdTable) maxOpen = Math.max(maxOpen, table.size);
        if (call.request.toString() === 'hold') {
          hold.add(() => cb(null, call.request));
          return;
        }
        setImmediate(() => cb(null, call.request)); // answered in a later turn, as the decision thread does
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
  );
  return { port, sessions, maxOpen: () => maxOpen, hold, server, misses: () => misses };
}

function frame(text: string): Buffer {
  const body = Buffer.from(text);
  const out = Buffer.alloc(5 + body.length);
  out.writeUInt32BE(body.length, 1);
  body.copy(out, 5);
  return out;
}

function call(session: http2.ClientHttp2Session, text: string): Promise<{ status: string | undefined; body: string }> {
  return new Promise((resolve, reject) => {
    const stream = session.request({
      ':method': 'POST',
      ':path': PATH,
      'content-type': 'application/grpc',
      te: 'trailers',
    });
    const chunks: Buffer[] = [];
    let status: string | undefined;
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('trailers', (t) => {
      const s = t['grpc-status'];
      status = typeof s === 'string' ? s : undefined;
    });
    stream.on('error', reject);
    stream.on('close', () => resolve({ status, body: Buffer.concat(chunks).subarray(5).toString() }));
    stream.end(frame(text));
  });
}

describe(`HTTP/2 stream table on a grpc-js server, on Node ${process.versions.node}`, () => {
  let s: Running;
  beforeEach(async () => {
    s = await start();
  });
  afterEach(() => {
    s.server.forceShutdown();
  });

  test('each session gets an IdTable; 100 concurrent calls on one connection are each answered; the table empties', async () => {
    const client = http2.connect(`http://127.0.0.1:${s.port}`);
    const texts = Array.from({ length: 100 }, (_, i) => `check-${i}`);
    const results = await Promise.all(texts.map((t) => call(client, t)));
    expect(results.map((r) => r.body)).toEqual(texts);
    expect(results.every((r) => r.status === '0')).toBe(true);
    expect(s.sessions).toHaveLength(1);
    const table = streamsOf(s.sessions[0] as http2.ServerHttp2Session);
    expect(table).toBeInstanceOf(IdTable);
    expect(s.misses()).toBe(0);
    expect(s.maxOpen()).toBeGreaterThan(10); // many streams were open at once: the table held them
    await new Promise((r) => setTimeout(r, 20));
    expect(table instanceof IdTable ? table.size : -1).toBe(0);
    await new Promise<void>((resolve) => client.close(resolve));
  });

  test('a session destroyed with streams open is torn down through the table, and the server keeps serving', async () => {
    const first = http2.connect(`http://127.0.0.1:${s.port}`);
    const held = Array.from({ length: 8 }, () => call(first, 'hold').catch(() => ({ status: 'reset', body: '' })));
    while (s.hold.size < 8) await new Promise((r) => setTimeout(r, 5));
    const table = streamsOf(s.sessions[0] as http2.ServerHttp2Session);
    expect(table instanceof IdTable ? table.size : -1).toBe(8);
    first.destroy();
    await Promise.all(held);
    const deadline = Date.now() + 2000;
    while ((table instanceof IdTable ? table.size : -1) !== 0 && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 5));
    expect(table instanceof IdTable ? table.size : -1).toBe(0);
    for (const answer of s.hold) answer(); // late answers to destroyed calls are dropped by grpc-js, not thrown
    const second = http2.connect(`http://127.0.0.1:${s.port}`);
    expect(await call(second, 'after')).toEqual({ status: '0', body: 'after' });
    await new Promise<void>((resolve) => second.close(resolve));
  });

  test('useStreamTable refuses what is not a Node session (no state, a plain object, a fake Map brand) and leaves it untouched', () => {
    const plain = { get: () => undefined };
    const branded = { [Symbol.toStringTag]: 'Map' };
    for (const streams of [plain, branded]) {
      const state = { streams };
      const fake = { [Symbol('state')]: state };
      expect(useStreamTable(fake as unknown as http2.ServerHttp2Session)).toBe(false);
      expect(state.streams).toBe(streams);
    }
    expect(useStreamTable({} as unknown as http2.ServerHttp2Session)).toBe(false);
  });
});
