/**
 * The baseline: a bare allow-all grpc-js ext_authz server. Same Envoy protos, the same HTTP/2 windows and the same
 * per-session stream table (authz/transport/http2-stream-table.ts) as phiguard, so the comparison measures phiguard's
 * decision
 * work (parse, CEL, audit), nothing else.
 * Usage: tsx bench/bare-server.ts PORT   (prints "listening PORT"; on SIGTERM prints "served N")
 */
import * as grpc from '@grpc/grpc-js';
import { loadAuthzPackageDefinition } from '../proto/envoy-protos.js';
import { applyHttp2Windows, applyStreamTable } from '../authz/transport/index.js';

const port = Number(process.argv[2] ?? '0');
const pkg = grpc.loadPackageDefinition(loadAuthzPackageDefinition());
const v3 = (((pkg['envoy'] as grpc.GrpcObject)['service'] as grpc.GrpcObject)['auth'] as grpc.GrpcObject)[
  'v3'
] as grpc.GrpcObject;
const service = (v3['Authorization'] as grpc.ServiceClientConstructor).service;
let served = 0;
const server = new grpc.Server();
applyHttp2Windows(server, 1024 * 1024);
// BENCH_BARE_STREAM_TABLE=0: the bare server with Node's own stream Map (docs/performance.md, "The HTTP/2 stream
// table").
if (process.env['BENCH_BARE_STREAM_TABLE'] !== '0') applyStreamTable(server);
server.addService(service, {
  Check: (_call: grpc.ServerUnaryCall<unknown, unknown>, cb: grpc.sendUnaryData<unknown>) => {
    served++;
    cb(null, { status: { code: 0 }, ok_response: {} });
  },
});
server.bindAsync(`127.0.0.1:${port}`, grpc.ServerCredentials.createInsecure(), (err, p) => {
  if (err) throw err;
  process.stdout.write(`listening ${p}\n`);
});
process.on('SIGTERM', () => {
  process.stdout.write(`served ${served}\n`);
  server.forceShutdown();
  process.exit(0);
});
