/**
 * The Node release phiguard claims, and the two places it reaches into grpc-js and Node internals, proven on the Node
 * running this suite. The claim is written in four places that must agree: the README's Requirements line,
 * package.json `engines` and `config.node` (the release .ci/run tests on and `npm run image` ships), and the
 * Dockerfile's NODE_VERSION. This suite fails when it runs on a Node the README does not claim, so a green run is a
 * proof for a claimed release; .ci/run runs it on config.node.
 *
 * The hooks (authz/transport/http2-server-hook.ts): the HTTP/2 flow-control windows (http2-windows.ts, Node's public
 * Http2Server.updateSettings and Http2Session.setLocalWindowSize on the server grpc-js creates) and the stream table
 * (http2-stream-table.ts, Node's internal `session[kState].streams`). Both are applied here to one real grpc-js
 * server, as the Check listener applies them, and their effect is observed from a client over loopback.
 */
import http2 from 'node:http2';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { applyHttp2Windows } from '../../authz/transport/http2-windows.js';
import { applyStreamTable, sessionStreams } from '../../authz/transport/http2-stream-table.js';
import { onHttp2Server } from '../../authz/transport/http2-server-hook.js';
import { IdTable } from '../../authz/transport/id-table.js';

const RUNNING = process.versions.node;
const RUNNING_MAJOR = Number(RUNNING.split('.')[0]);
const WINDOW = 1024 * 1024;

const pkg = JSON.parse(readFileSync('package.json', 'utf8')) as { engines: { node: string }; config: { node: string } };
const major = (version: string): number => Number(/(\d+)/.exec(version)?.[1]);

/** The Node majors the README's Requirements line names ("Requirements: Node.js 24 ..."). */
function readmeMajors(): number[] {
  const line = /^Requirements: Node\.js ([^(.]*)/m.exec(readFileSync('README.md', 'utf8'))?.[1] ?? '';
  return [...line.matchAll(/\b(\d+)\b/g)].map((m) => Number(m[1]));
}

describe(`the Node release phiguard claims (running Node ${RUNNING})`, () => {
  test('README, package.json engines and config.node, and the Dockerfile name the same release', () => {
    const claimed = readmeMajors();
    expect(claimed).toHaveLength(1);
    const [readme] = claimed;
    expect(major(pkg.engines.node)).toBe(readme);
    expect(pkg.config.node).toMatch(/^\d+\.\d+\.\d+$/);
    expect(major(pkg.config.node)).toBe(readme);
    const dockerfile = /^ARG NODE_VERSION=(\S+)$/m.exec(readFileSync('Dockerfile', 'utf8'))?.[1];
    expect(dockerfile).toBe(pkg.config.node);
  });

  test('the suite runs on a claimed release (.ci/run puts config.node first on PATH)', () => {
    expect({ running: RUNNING, claimed: readmeMajors().includes(RUNNING_MAJOR) }).toEqual({
      running: RUNNING,
      claimed: true,
    });
  });
});

describe(`the HTTP/2 hooks on a grpc-js server, on Node ${RUNNING}`, () => {
  let server: grpc.Server;
  let port = 0;
  let windowsApplied = false;
  let tableApplied = false;
  let misses = 0;
  const sessions: http2.ServerHttp2Session[] = [];

  beforeAll(async () => {
    server = new grpc.Server();
    windowsApplied = applyHttp2Windows(server, WINDOW);
    tableApplied = applyStreamTable(server, () => {
      misses++;
    });
    onHttp2Server(server, (h2) => h2.on('session', (s: http2.ServerHttp2Session) => sessions.push(s)));
    port = await new Promise<number>((resolve, reject) =>
      server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))),
    );
  });
  afterAll(() => {
    server.forceShutdown();
  });

  test('both hooks find what they reach into (grpc-js createHttp2Server; Node session state)', () => {
    expect({ windowsApplied, tableApplied }).toEqual({ windowsApplied: true, tableApplied: true });
  });

  test('the server advertises 1 MiB stream windows and opens a 1 MiB connection window', async () => {
    const client = http2.connect(`http://127.0.0.1:${port}`);
    await new Promise<void>((resolve) => client.once('remoteSettings', () => resolve()));
    expect(client.remoteSettings.initialWindowSize).toBe(WINDOW);
    const deadline = Date.now() + 2000;
    while ((client.state.remoteWindowSize ?? 0) < WINDOW && Date.now() < deadline)
      await new Promise((r) => setTimeout(r, 10));
    expect(client.state.remoteWindowSize ?? 0).toBeGreaterThanOrEqual(WINDOW);
    // The session that client opened keeps its streams in the IdTable, not Node's Map.
    expect(sessions).toHaveLength(1);
    expect(sessionStreams(sessions[0] as http2.ServerHttp2Session)?.streams).toBeInstanceOf(IdTable);
    expect(misses).toBe(0);
    await new Promise<void>((resolve) => client.close(resolve));
  });
});
