/**
 * `npm run bench`: load on the Check service, phiguard (example policies, audit to a file) side by side with a bare
 * allow-all grpc-js Check server, in the same run, from h2load (Debian nghttp2-client) in its own process.
 *
 * Traffic shape like Envoy: one HTTP/2 connection, many concurrent streams. Two measurements per payload:
 *  1. saturation (closed loop, -m 50): throughput of each server -> ratio;
 *  2. same offered load (--rps at 60% of phiguard's saturation): p50/p99 of each -> ratio. h2load's rate timer fires
 *     at most every 10 ms (h2load.cc: `rps_watcher.repeat = std::max(0.01, 1. / config.rps)`) and submits what is due
 *     at once, so this is the latency of bursts of rate/100 checks, at most STREAMS in flight (docs/performance.md).
 * HTTP 200 is not gRPC OK: a grpc-js client first checks each payload's decision over gRPC, and after each
 * phiguard run the decision counter in /metrics must account for every request h2load completed.
 *
 * Every run sends a fixed number of requests (h2load -n; about SECONDS of work at the rate measured in the warm-up),
 * so the CPU each server process used for them (/proc/PID/stat, all threads, and its main thread alone) divides
 * exactly into CPU time per check. That number is what capacity planning needs, and it drifts less than throughput.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import { closeSync, mkdirSync, openSync, readFileSync, readSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { envAssignments, envWords } from './env-words.js';
import { waitLine } from './wait-line.js';
import { CheckInputSchema } from '../authz/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../generator/call/index.js';
import { loadEnvoyRoot } from '../proto/envoy-protos.js';

const OUT = path.resolve('bench/out');
/** Target length of one measured run, in seconds (runs send a fixed number of requests sized from the warm-up). */
const SECONDS = Number(process.env['BENCH_SECONDS'] ?? '3');
const STREAMS = Number(process.env['BENCH_STREAMS'] ?? '50');
/**
 * Rounds per measurement. Each round runs both servers back to back (the order alternates between rounds) and gives
 * one paired ratio; the report is the median of those ratios and their quartiles. This VM's speed drifts by tens of
 * percent from minute to minute, so a ratio of two runs minutes apart measures the drift; runs seconds apart mostly
 * do not.
 */
const ROUNDS = Number(process.env['BENCH_ROUNDS'] ?? '11');
/** Requests per payload and server before anything is measured, so both run JIT-compiled code (steady state). */
const WARMUP_REQUESTS = Number(process.env['BENCH_WARMUP_REQUESTS'] ?? '60000');
/**
 * BENCH_PIN=1: CPU pinning (taskset), servers on CPU 1 and h2load on CPU 0. Each server's helper threads (GC,
 * libuv: the audit file writes) then share its one core with the event loop. Off by default: the default run lets
 * the scheduler place threads on both cores, as the earlier runs did. docs/performance.md has both.
 */
/**
 * BENCH_DECISIONS=inline: phiguard decides on its gRPC thread (`--decisions inline`). Default `thread`, what
 * `phiguard serve` runs by default: grpc-js alone on the main thread, the decisions on a decision thread.
 */
const DECISIONS = process.env['BENCH_DECISIONS'] === 'inline' ? 'inline' : 'thread';
const PIN =
  process.env['BENCH_PIN'] === '1' &&
  (await import('node:os')).cpus().length >= 2 &&
  spawnSync('taskset', ['-c', '0', 'true']).status === 0;
const serverCmd = (args: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', '1', 'node', ...args]] : ['node', args];
const loadCmd = (args: string[]): [string, string[]] =>
  PIN ? ['taskset', ['-c', '0', 'h2load', ...args]] : ['h2load', args];

interface RunResult {
  rps: number;
  p50: number;
  p99: number;
  done: number;
  ok: number;
  /** CPU time per request in µs: the whole server process, and its main (event-loop) thread alone. */
  cpuUs: number;
  mainCpuUs: number;
}
/** A server under test: its port and its process (for CPU accounting). */
interface Target {
  port: number;
  pid: number;
}
/** A per-round paired statistic (phiguard/bare ratio, or phiguard − bare difference): median and quartiles. */
interface Paired {
  median: number;
  q1: number;
  q3: number;
  rounds: number[];
}

function h2loadAvailable(): boolean {
  return spawnSync('h2load', ['--version']).status === 0;
}

function grpcFrame(file: string): Buffer {
  const root = loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto']);
  const T = root.lookupType('envoy.service.auth.v3.CheckRequest');
  const input = CheckInputSchema.parse(JSON.parse(readFileSync(file, 'utf8')));
  const payload = Buffer.from(T.encode(T.fromObject(toGrpcCheckRequest(input))).finish());
  const frame = Buffer.alloc(5 + payload.length);
  frame.writeUInt32BE(payload.length, 1);
  payload.copy(frame, 5);
  return frame;
}

const CLK_TCK = Number(spawnSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).stdout.trim()) || 100;

/** utime + stime of a process or thread, in µs (/proc/PID/stat fields 14 and 15, after the parenthesized comm). */
function cpuTimeUs(statFile: string): number {
  const text = readFileSync(statFile, 'utf8');
  const f = text.slice(text.lastIndexOf(')') + 2).split(' ');
  return ((Number(f[11]) + Number(f[12])) * 1e6) / CLK_TCK;
}

/** The p-th percentile (0-100) of an ascending array (nearest rank, lower). */
function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

const ascending = (xs: number[]): number[] => [...xs].sort((a, b) => a - b);

function median(xs: number[]): number {
  return percentile(ascending(xs), 50);
}

function paired(xs: number[]): Paired {
  const s = ascending(xs);
  return { median: percentile(s, 50), q1: percentile(s, 25), q3: percentile(s, 75), rounds: xs };
}

/**
 * Runs both servers ROUNDS times, alternating, `requests[server]` checks per run, and returns per-server medians
 * (rps, p50, p99, CPU per check), the paired per-round ratios (phiguard / bare) of throughput and p99, and the paired
 * per-round difference (phiguard − bare) of CPU per check.
 */
function alternate(
  targets: { bare: Target; phiguard: Target },
  dataFile: string,
  requests: { bare: number; phiguard: number },
  extra: string[],
): { bare: RunResult; phiguard: RunResult; rps: Paired; p99: Paired; addedCpuUs: Paired } {
  const runs: Record<'bare' | 'phiguard', RunResult[]> = { bare: [], phiguard: [] };
  for (let i = 0; i < ROUNDS; i++) {
    const order: Array<'bare' | 'phiguard'> = i % 2 === 0 ? ['bare', 'phiguard'] : ['phiguard', 'bare'];
    for (const s of order) runs[s].push(runH2load(targets[s], dataFile, requests[s], extra));
  }
  const med = (rs: RunResult[]): RunResult => ({
    rps: median(rs.map((r) => r.rps)),
    p50: median(rs.map((r) => r.p50)),
    p99: median(rs.map((r) => r.p99)),
    done: rs.reduce((a, r) => a + r.done, 0),
    ok: rs.reduce((a, r) => a + r.ok, 0),
    cpuUs: median(rs.map((r) => r.cpuUs)),
    mainCpuUs: median(rs.map((r) => r.mainCpuUs)),
  });
  return {
    bare: med(runs.bare),
    phiguard: med(runs.phiguard),
    rps: paired(runs.phiguard.map((r, i) => r.rps / (runs.bare[i]?.rps ?? NaN))),
    p99: paired(runs.phiguard.map((r, i) => r.p99 / (runs.bare[i]?.p99 ?? NaN))),
    addedCpuUs: paired(runs.phiguard.map((r, i) => r.cpuUs - (runs.bare[i]?.cpuUs ?? NaN))),
  };
}

/**
 * h2load with the traffic shape of every run (one connection, STREAMS streams, gRPC-framed `dataFile`) sending
 * `requests` Checks to `port`; returns its stdout.
 */
function h2load(port: number, dataFile: string, requests: number, extra: string[]): string {
  const [cmd, argv] = loadCmd([
    '-c',
    '1',
    '-m',
    String(STREAMS),
    '-n',
    String(requests),
    '-H',
    'content-type: application/grpc',
    '-H',
    'te: trailers',
    '-d',
    dataFile,
    ...extra,
    `http://127.0.0.1:${port}/envoy.service.auth.v3.Authorization/Check`,
  ]);
  const r = spawnSync(cmd, argv, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`h2load failed: ${r.stderr}`);
  return r.stdout;
}

/** h2load's overall rate: "finished in 3.01s, 7000.00 req/s". */
const rateOf = (stdout: string): number => Number(/finished in [0-9.]+m?s, ([0-9.]+) req\/s/.exec(stdout)?.[1] ?? NaN);

/** One h2load run of `requests` checks against a server; its throughput, latency and CPU time per check. */
function runH2load(target: Target, dataFile: string, requests: number, extra: string[]): RunResult {
  const log = path.join(OUT, `h2load-${target.port}-${Date.now()}.log`);
  const proc = `/proc/${target.pid}/stat`;
  const main = `/proc/${target.pid}/task/${target.pid}/stat`;
  const cpu0 = cpuTimeUs(proc);
  const main0 = cpuTimeUs(main);
  const stdout = h2load(target.port, dataFile, requests, ['--log-file', log, ...extra]);
  const cpu1 = cpuTimeUs(proc);
  const main1 = cpuTimeUs(main);
  const done = Number(/requests: \d+ total, \d+ started, (\d+) done/.exec(stdout)?.[1] ?? NaN);
  const ok = Number(/status codes: (\d+) 2xx/.exec(stdout)?.[1] ?? NaN);
  const rps = rateOf(stdout);
  const lines = readFileSync(log, 'utf8').split('\n').filter(Boolean);
  rmSync(log);
  if (done !== requests || lines.length !== requests)
    throw new Error(`h2load completed ${done} of ${requests} requests (${lines.length} logged)`);
  // Latency of the requests started after the first second of the connection (what --warm-up-time=1 measured
  // before runs had a fixed count): the connection's start is not the steady state. h2load's log columns: start time
  // (µs since the epoch), status, µs until the end of the response.
  const rows = lines
    .map((l) => l.split('\t').map(Number))
    .filter((c) => Number.isFinite(c[0]) && Number.isFinite(c[2]));
  const first = rows.reduce((m, c) => Math.min(m, c[0] ?? Infinity), Infinity);
  const steady = rows.filter((c) => (c[0] ?? 0) - first >= 1e6);
  const lat = (steady.length >= 100 ? steady : rows).map((c) => (c[2] ?? NaN) / 1000).sort((a, b) => a - b);
  return {
    rps,
    p50: percentile(lat, 50),
    p99: percentile(lat, 99),
    done,
    ok,
    cpuUs: (cpu1 - cpu0) / requests,
    mainCpuUs: (main1 - main0) / requests,
  };
}

/** Newlines in a file, read in chunks (the audit file of a run is larger than a JavaScript string may be). */
function countLines(file: string): number {
  const fd = openSync(file, 'r');
  const buf = Buffer.allocUnsafe(1 << 20);
  let n = 0;
  try {
    for (let got = readSync(fd, buf); got > 0; got = readSync(fd, buf)) {
      for (let i = buf.indexOf(10); i !== -1 && i < got; i = buf.indexOf(10, i + 1)) n++;
    }
  } finally {
    closeSync(fd);
  }
  return n;
}

/** Warm-up run; returns its throughput (req/s), which sizes the measured runs. */
function warmUp(port: number, dataFile: string): number {
  return rateOf(h2load(port, dataFile, WARMUP_REQUESTS, []));
}

function pidOf(child: ChildProcess): number {
  if (child.pid === undefined) throw new Error('server process has no pid');
  return child.pid;
}

/** phiguard's decision counter, from /metrics. A fresh connection each time: a kept-alive one may be closed by the
 * server's keep-alive timeout between two scrapes minutes apart. */
async function decisionsTotal(metricsPort: number): Promise<number> {
  const text = await new Promise<string>((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port: metricsPort, path: '/metrics', agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          body += d;
        });
        res.on('end', () => resolve(body));
        res.on('error', reject);
      })
      .on('error', reject);
  });
  return text
    .split('\n')
    .filter((l) => l.startsWith('phiguard_decisions_total{'))
    .reduce((s, l) => s + Number(l.split(' ').pop()), 0);
}

async function main(): Promise<void> {
  if (!h2loadAvailable()) {
    process.stderr.write('bench: h2load not found. Install it: apt-get install -y nghttp2-client\n');
    process.exit(2);
  }
  mkdirSync(OUT, { recursive: true });
  const allPayloads = [
    { name: 'read (jwt_authn claims, allow)', file: 'examples/requests/scribe-read-encounter.json', expect: 0 },
    { name: 'transaction Bundle (allow)', file: 'examples/requests/scribe-note-transaction.json', expect: 0 },
    { name: 'population search (deny)', file: 'examples/requests/scribe-population-search.json', expect: 7 },
  ];
  // BENCH_PAYLOADS=read,transaction: only the payloads whose file name contains one of these (default: all three).
  const only = (process.env['BENCH_PAYLOADS'] ?? '').split(',').filter((s) => s !== '');
  const payloads = only.length === 0 ? allPayloads : allPayloads.filter((p) => only.some((o) => p.file.includes(o)));
  if (payloads.length === 0) throw new Error(`BENCH_PAYLOADS=${only.join(',')} matches no payload`);

  const bare = spawn(...serverCmd(['--import', 'tsx', 'bench/bare-server.ts', '0']), {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const barePort = Number((await waitLine(bare, /listening (\d+)/))[1]);
  const audit = path.join(OUT, 'audit.jsonl');
  rmSync(audit, { force: true });
  // BENCH_SERVE_ARGS='--audit-sync fsync': more `phiguard serve` flags for every phiguard server of the run.
  const serveArgs = envWords('BENCH_SERVE_ARGS');
  // BENCH_NODE_FLAGS='--max-semi-space-size=4': Node/V8 flags for every phiguard server of the run (not the reference).
  const NODE_FLAGS = envWords('BENCH_NODE_FLAGS');
  // BENCH_SERVE_ENV='GLIBC_TUNABLES=glibc.malloc.hugetlb=1': environment variables for every phiguard server.
  const serveEnv = envAssignments('BENCH_SERVE_ENV');
  /** `phiguard serve` as the benchmark runs it, writing its audit trail to `auditFile`, plus `extra` flags. */
  const servePhiguard = (auditFile: string, extra: string[]): ChildProcess =>
    spawn(
      ...serverCmd([
        ...NODE_FLAGS,
        'bin/phiguard.js',
        'serve',
        ...['--port', '0', '--metrics-port', '0', '--policies', 'examples/policies', '--audit-file', auditFile],
        ...['--log-level', 'warn', '--decisions', DECISIONS, ...serveArgs, ...extra],
      ]),
      { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, ...serveEnv } },
    );
  const pg = servePhiguard(audit, []);
  const m = await waitLine(pg, /listening on 127\.0\.0\.1:(\d+)[\s\S]*?http:\/\/127\.0\.0\.1:(\d+)\/metrics/, 'stderr');
  const pgPort = Number(m[1]);
  const metricsPort = Number(m[2]);
  // The same service with envelope recording on, to show what recording costs on the Check path.
  const envDir = path.join(OUT, 'envelopes');
  rmSync(envDir, { recursive: true, force: true });
  const rec = servePhiguard(path.join(OUT, 'audit-rec.jsonl'), [
    ...['--envelope-dir', envDir, '--envelope-flush-ms', '5000', '--replica', 'bench'],
  ]);
  const recPort = Number((await waitLine(rec, /listening on 127\.0\.0\.1:(\d+)/, 'stderr'))[1]);

  const results: Array<Record<string, unknown>> = [];
  try {
    const prepared: Array<{ p: (typeof payloads)[number]; frame: Buffer; dataFile: string; code: number }> = [];
    for (const p of payloads) {
      const frame = grpcFrame(p.file);
      const dataFile = path.join(OUT, `${path.basename(p.file)}.grpc`);
      writeFileSync(dataFile, frame);
      // gRPC-level check of what this payload decides (h2load sees only HTTP 200).
      const client = createCheckClient(`127.0.0.1:${pgPort}`);
      const res = await client.check(
        toGrpcCheckRequest(CheckInputSchema.parse(JSON.parse(readFileSync(p.file, 'utf8')))),
      );
      client.close();
      const code = (res['status'] as { code: number }).code;
      if (code !== p.expect) throw new Error(`${p.file}: expected grpc status ${p.expect}, got ${code}`);
      prepared.push({ p, frame, dataFile, code });
    }
    // Warm-up: every server runs every payload before anything is measured, so each is measured on JIT-optimized
    // code. (Unwarmed, phiguard's first ~60,000 checks ran ~25% slower than its steady state; the bare server has
    // far less code to warm.) The warm-up's throughput sizes each measured run to about SECONDS.
    const targets = {
      bare: { port: barePort, pid: pidOf(bare) },
      phiguard: { port: pgPort, pid: pidOf(pg) },
      recording: { port: recPort, pid: pidOf(rec) },
    };
    const warmRate = new Map<string, number>();
    for (const [name, t] of Object.entries(targets))
      for (const w of prepared) warmRate.set(`${name} ${w.dataFile}`, warmUp(t.port, w.dataFile));
    const sized = (name: string, dataFile: string): number =>
      Math.max(1000, Math.round((warmRate.get(`${name} ${dataFile}`) ?? 1000) * SECONDS));

    for (const { p, frame, dataFile, code } of prepared) {
      const before = await decisionsTotal(metricsPort);
      const pair = { bare: targets.bare, phiguard: targets.phiguard };
      const sat = alternate(
        pair,
        dataFile,
        { bare: sized('bare', dataFile), phiguard: sized('phiguard', dataFile) },
        [],
      );
      const counted = (await decisionsTotal(metricsPort)) - before;
      const rate = Math.max(1, Math.floor(sat.phiguard.rps * 0.6));
      const n = Math.round(rate * SECONDS);
      const same = alternate(pair, dataFile, { bare: n, phiguard: n }, [`--rps=${rate}`]);
      results.push({
        payload: p.name,
        bytes: frame.length,
        grpcStatus: code,
        decisionsCounted: counted,
        saturation: { bare: sat.bare, phiguard: sat.phiguard, throughputRatio: sat.rps, addedCpuUs: sat.addedCpuUs },
        sameLoad: { rps: rate, bare: same.bare, phiguard: same.phiguard, p99Ratio: same.p99 },
      });
      // Every completed h2load request must be a counted gRPC decision.
      if (counted < sat.phiguard.done)
        throw new Error(`decisions counted ${counted} < requests done ${sat.phiguard.done}`);
    }
    // Recording on vs off, same payload mix member (read), alternating rounds.
    const readFrame = prepared.find((w) => w.p.file.includes('scribe-read-encounter'))?.dataFile;
    if (readFrame !== undefined) {
      const recording = alternate(
        { bare: targets.phiguard, phiguard: targets.recording },
        readFrame,
        { bare: sized('phiguard', readFrame), phiguard: sized('recording', readFrame) },
        [],
      );
      results.push({
        payload: 'recording off vs on (read)',
        recordingOff: recording.bare,
        recordingOn: recording.phiguard,
        ratio: recording.rps,
        addedCpuUs: recording.addedCpuUs,
      });
    }
  } finally {
    bare.kill('SIGTERM');
    pg.kill('SIGTERM');
    rec.kill('SIGTERM');
  }
  const auditLines = countLines(audit);

  const f = (n: number, d = 0) => n.toFixed(d).padStart(8);
  let table = `\nphiguard Check benchmark — h2load, 1 connection × ${STREAMS} streams, ${SECONDS}s per run, medians over ${ROUNDS} alternating rounds (ratios: median of the per-round ratios) after ${WARMUP_REQUESTS} warm-up checks per payload, phiguard --decisions ${DECISIONS}, ${PIN ? 'servers pinned to CPU 1 and h2load to CPU 0' : 'not pinned'}, Node ${process.version}, ${(await import('node:os')).cpus().length} cores\n`;
  table += `payload                              | server   |   req/s |  p50 ms |  p99 ms | CPU µs/check (main thread) || same-load req/s |  p50 ms |  p99 ms\n`;
  for (const r of results) {
    if ('recordingOn' in r) {
      const off = r['recordingOff'] as RunResult;
      const on = r['recordingOn'] as RunResult;
      const ratio = r['ratio'] as Paired;
      const added = r['addedCpuUs'] as Paired;
      table += `envelope recording (read payload)     | off ${f(off.rps)} req/s p99 ${off.p99.toFixed(2)} ms | on ${f(on.rps)} req/s p99 ${on.p99.toFixed(2)} ms | on/off ${ratio.median.toFixed(2)} (quartiles ${ratio.q1.toFixed(2)}–${ratio.q3.toFixed(2)}) | recording adds ${added.median.toFixed(1)} µs CPU per check\n`;
      continue;
    }
    const sat = r['saturation'] as {
      bare: RunResult;
      phiguard: RunResult;
      throughputRatio: Paired;
      addedCpuUs: Paired;
    };
    const same = r['sameLoad'] as { rps: number; bare: RunResult; phiguard: RunResult; p99Ratio: Paired };
    for (const s of ['bare', 'phiguard'] as const) {
      table += `${String(r['payload']).padEnd(36)} | ${s.padEnd(8)} |${f(sat[s].rps)} |${f(sat[s].p50, 2)} |${f(sat[s].p99, 2)} | ${f(sat[s].cpuUs, 1)} (${sat[s].mainCpuUs.toFixed(1)})${''.padEnd(8)} ||        ${f(same.rps)} |${f(same[s].p50, 2)} |${f(same[s].p99, 2)}\n`;
    }
    const tr = sat.throughputRatio;
    const pr = same.p99Ratio;
    const ac = sat.addedCpuUs;
    table += `${''.padEnd(36)} | ratio    | throughput ${tr.median.toFixed(2)} (quartiles ${tr.q1.toFixed(2)}–${tr.q3.toFixed(2)}; target ≥ 0.80) | p99 at same load ${pr.median.toFixed(2)}× (quartiles ${pr.q1.toFixed(2)}–${pr.q3.toFixed(2)}; target ≤ 1.5×) | phiguard adds ${ac.median.toFixed(1)} µs CPU per check (quartiles ${ac.q1.toFixed(1)}–${ac.q3.toFixed(1)})\n`;
  }
  table += `audit records written: ${auditLines}\n`;
  process.stdout.write(table);
  writeFileSync(
    path.join(OUT, 'results.json'),
    `${JSON.stringify({ date: new Date().toISOString(), decisions: DECISIONS, seconds: SECONDS, streams: STREAMS, rounds: ROUNDS, warmupRequests: WARMUP_REQUESTS, pinned: PIN, results, auditLines }, null, 2)}\n`,
  );
}

main().catch((e: unknown) => {
  process.stderr.write(
    `bench failed: ${e instanceof Error ? `${e.message}${e.cause instanceof Error ? ` (${e.cause.message})` : ''}` : String(e)}\n`,
  );
  process.exit(1);
});
