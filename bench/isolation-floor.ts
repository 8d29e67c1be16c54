/**
 * The floors of `npm run bench:isolation` (bench/isolation.ts): Check servers that decide nothing, so that the canary's
 * latency and the RSS they reach under the same load are what the transport and the machine cost, measured in the
 * same run as phiguard.
 *
 * - `grpc-js`: a grpc-js server with phiguard's listener settings (16 MiB message limit, 128 streams per connection,
 *   the same HTTP/2 windows and stream table), messages passed through as bytes, not decoded.
 * - `http2`: Node's HTTP/2 server with the same settings and gRPC's framing written by hand: no gRPC library at all.
 *   Each request's frames are assembled into one buffer, as grpc-js does and as any server that decides must.
 *
 * Every Check is allowed (the same CheckResponse bytes). A Check of at least 256 KiB (phiguard's `--bulk-check-bytes`)
 * is answered `FLOOR_DELAY_MS` after it arrived, so that the back-to-back load sends the floor about as many Bundles as
 * phiguard decides (8 connections, one Bundle each per second: 8 a second); the table prints both counts. Smaller
 * Checks are answered at once.
 *
 * Usage: node --import tsx bench/isolation-floor.ts grpc-js|http2   (prints "listening on 127.0.0.1:PORT" on stderr)
 */
import http2 from 'node:http2';
import * as grpc from '@grpc/grpc-js';
import { applyHttp2Windows, applyStreamTable } from '../authz/transport/index.js';
import { loadEnvoyRoot } from '../proto/envoy-protos.js';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const LARGE = 256 * 1024;
const WINDOW = 1024 * 1024;
const MAX_STREAMS = 128;
const DELAY = Number(process.env['FLOOR_DELAY_MS'] ?? '1000');

const Res = loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto']).lookupType(
  'envoy.service.auth.v3.CheckResponse',
);
const allow = Buffer.from(Res.encode(Res.fromObject({ status: { code: 0 }, okResponse: {} })).finish());

const later = (bytes: number, answer: () => void): void => {
  if (bytes >= LARGE) setTimeout(answer, DELAY);
  else setImmediate(answer);
};
const listening = (port: number): boolean => process.stderr.write(`listening on 127.0.0.1:${port}\n`);

function grpcJs(): void {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.max_concurrent_streams': MAX_STREAMS,
  });
  applyHttp2Windows(server, WINDOW);
  applyStreamTable(server);
  server.register<Buffer, Buffer>(
    CHECK_PATH,
    (call: grpc.ServerUnaryCall<Buffer, Buffer>, callback: grpc.sendUnaryData<Buffer>) =>
      later(call.request.length, () => callback(null, allow)),
    (b: Buffer) => b,
    (b: Buffer) => b,
    'unary',
  );
  server.bindAsync('127.0.0.1:0', grpc.ServerCredentials.createInsecure(), (e, port) => {
    if (e !== null) throw e;
    listening(port);
  });
}

function plainHttp2(): void {
  // A gRPC message: a compressed flag (0), 4 bytes of big-endian length, the message (grpc PROTOCOL-HTTP2.md).
  const framed = Buffer.concat([Buffer.from([0, 0, 0, 0, allow.length]), allow]);
  const server = http2.createServer({ settings: { initialWindowSize: WINDOW, maxConcurrentStreams: MAX_STREAMS } });
  server.on('session', (session) => session.setLocalWindowSize(WINDOW));
  server.on('stream', (stream) => {
    // The request is assembled, as any server that decides it must (grpc-js does the same).
    const chunks: Buffer[] = [];
    stream.on('data', (d: Buffer) => chunks.push(d));
    stream.on('end', () =>
      later(Buffer.concat(chunks).length, () => {
        if (stream.destroyed) return;
        stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
        stream.end(framed);
      }),
    );
  });
  server.listen(0, '127.0.0.1', () => {
    const a = server.address();
    listening(typeof a === 'object' && a !== null ? a.port : 0);
  });
}

const kind = process.argv[2];
if (kind === 'grpc-js') grpcJs();
else if (kind === 'http2') plainHttp2();
else throw new Error(`usage: isolation-floor.ts grpc-js|http2 (got ${String(kind)})`);
