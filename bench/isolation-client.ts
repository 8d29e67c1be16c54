/**
 * The client processes of `npm run bench:isolation` (bench/isolation.ts), each its own process so that it shares no
 * event loop with the service or with the other: `canary PORT SECONDS` sends the small check every 10 ms on its own
 * connection and reports each latency; `bundles PORT SECONDS CONNECTIONS` sends the large Bundle back to back on
 * each of CONNECTIONS connections; `streams PORT SECONDS CONNECTIONS STREAMS` keeps STREAMS small checks open on each
 * connection (closed loop). Every answer's gRPC status is counted (0 OK, 7 PERMISSION_DENIED, ...). Prints one JSON
 * line when done.
 */
import * as grpc from '@grpc/grpc-js';
import { loadEnvoyRoot } from '../proto/envoy-protos.js';
import { bundleCheck, canaryCheck } from './isolation-payloads.js';

const CHECK_PATH = '/envoy.service.auth.v3.Authorization/Check';
const Res = loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto']).lookupType(
  'envoy.service.auth.v3.CheckResponse',
);

/** The CheckResponse's status code (google.rpc.Status), or -1 when absent. */
const statusOf = (bytes: Buffer): number => {
  const o = Res.toObject(Res.decode(bytes)) as { status?: { code?: number } };
  return o.status?.code ?? 0;
};

/** A client on its own connection (grpc-js shares connections between clients unless told not to). */
function connection(port: number): grpc.Client {
  return new grpc.Client(`127.0.0.1:${port}`, grpc.credentials.createInsecure(), {
    'grpc.use_local_subchannel_pool': 1,
    'grpc.max_send_message_length': -1,
  });
}

/** One Check; resolves with its gRPC-level outcome: the CheckResponse status code, or `error <grpc code>`. */
function check(client: grpc.Client, bytes: Buffer): Promise<string> {
  return new Promise((resolve) => {
    client.makeUnaryRequest<Buffer, Buffer>(
      CHECK_PATH,
      (b) => b,
      (b) => b,
      bytes,
      { deadline: Date.now() + 60_000 },
      (err, res) => resolve(err !== null || res === undefined ? `error ${err?.code ?? '?'}` : String(statusOf(res))),
    );
  });
}

function tally(outcomes: string[]): Record<string, number> {
  const t: Record<string, number> = {};
  for (const o of outcomes) t[o] = (t[o] ?? 0) + 1;
  return t;
}

async function canary(port: number, seconds: number): Promise<void> {
  const client = connection(port);
  const bytes = canaryCheck();
  await check(client, bytes); // the connection is up before timing starts
  const latencies: number[] = [];
  const outcomes: string[] = [];
  const inFlight: Array<Promise<void>> = [];
  const end = performance.now() + seconds * 1000;
  await new Promise<void>((done) => {
    const t = setInterval(() => {
      if (performance.now() >= end) {
        clearInterval(t);
        done();
        return;
      }
      const t0 = performance.now();
      inFlight.push(
        check(client, bytes).then((o) => {
          latencies.push(performance.now() - t0);
          outcomes.push(o);
        }),
      );
    }, 10);
  });
  await Promise.all(inFlight);
  client.close();
  process.stdout.write(`${JSON.stringify({ latencies, outcomes: tally(outcomes) })}\n`);
}

/** Keeps `depth` checks of `bytes` open on each connection until `seconds` have passed. */
async function closedLoop(port: number, seconds: number, connections: number, depth: number, bytes: Buffer) {
  const outcomes: string[] = [];
  const end = performance.now() + seconds * 1000;
  const clients = Array.from({ length: connections }, () => connection(port));
  process.stderr.write('ready\n');
  const lane = async (client: grpc.Client): Promise<void> => {
    while (performance.now() < end) outcomes.push(await check(client, bytes));
  };
  await Promise.all(clients.flatMap((c) => Array.from({ length: depth }, () => lane(c))));
  for (const c of clients) c.close();
  process.stdout.write(`${JSON.stringify({ outcomes: tally(outcomes) })}\n`);
}

const [mode, port, seconds, connections, depth] = process.argv.slice(2);
const p = Number(port);
const s = Number(seconds);
if (mode === 'canary') await canary(p, s);
else if (mode === 'bundles') await closedLoop(p, s, Number(connections), 1, bundleCheck());
else if (mode === 'streams') await closedLoop(p, s, Number(connections), Number(depth), canaryCheck());
else throw new Error(`unknown mode ${mode}`);
