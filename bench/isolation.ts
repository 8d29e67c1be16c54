/**
 * `npm run bench:isolation`: does one large request starve the others? A canary (the small example read, allowed)
 * every 10 ms on its own connection, while
 *  1. `bundles`: 8 connections send 9 MiB, 10,000-entry transaction Bundles back to back (each allowed by the example
 *     policy's `note-transaction` rule), and
 *  2. `streams`: 10 connections keep 2,000 small checks open each (20,000 streams, closed loop).
 * Each phase runs against a fresh `phiguard serve` (example policies, audit to a file, `--decisions thread`), after a
 * short warm-up, and then against the floors (bench/isolation-floor.ts): servers that decide nothing, one on grpc-js
 * with phiguard's listener settings, one on Node's HTTP/2 alone. A floor's canary latency and RSS are what the
 * transport, the clients and the machine cost under the same load; phiguard's are read beside them. The clients are
 * separate processes (bench/isolation-client.ts); the server's RSS is sampled from /proc every 20 ms. Reports per
 * phase and server: canary p50 / p99 / max, the server's peak RSS, and every answer's gRPC status.
 * Targets (phiguard): canary p99 <= 25 ms and max <= 100 ms in `bundles`, p99 <= 100 ms in `streams`, RSS <= 400 MB,
 * every Bundle allowed. Fails (exit 1) if a Bundle or canary got any other answer from phiguard.
 *
 * ISOLATION_SECONDS (20): length of each phase. ISOLATION_PHASES (bundles,streams). ISOLATION_SERVERS
 * (phiguard,grpc-js,http2). ISOLATION_FLAGS: extra `phiguard serve` flags (a variant, e.g. `--bulk-check-bytes 0`).
 * ISOLATION_NODE_FLAGS: Node/V8 flags for phiguard's process (e.g. `--max-semi-space-size=4`). ISOLATION_SERVE_ENV:
 * environment variables for it (`NAME=value ...`). ISOLATION_STREAMS (2000) per connection. FLOOR_DELAY_MS (1000):
 * how long a floor holds a large Check.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { envAssignments, envWords } from './env-words.js';
import { waitLine } from './wait-line.js';

const OUT = path.resolve('bench/out');
const SECONDS = Number(process.env['ISOLATION_SECONDS'] ?? '20');
const PHASES = (process.env['ISOLATION_PHASES'] ?? 'bundles,streams').split(',').filter(Boolean);
const FLAGS = envWords('ISOLATION_FLAGS');
const NODE_FLAGS = envWords('ISOLATION_NODE_FLAGS');
/** ISOLATION_SERVE_ENV='GLIBC_TUNABLES=glibc.malloc.hugetlb=1': environment variables for phiguard's process. */
const SERVE_ENV = envAssignments('ISOLATION_SERVE_ENV');
const STREAMS = Number(process.env['ISOLATION_STREAMS'] ?? '2000');
const SERVERS = (process.env['ISOLATION_SERVERS'] ?? 'phiguard,grpc-js,http2').split(',').filter(Boolean);
for (const s of SERVERS) {
  if (!['phiguard', 'grpc-js', 'http2'].includes(s)) throw new Error(`ISOLATION_SERVERS: unknown server ${s}`);
}

interface Phase {
  name: string;
  server: string;
  canary: { n: number; p50: number; p99: number; max: number; outcomes: Record<string, number> };
  load: Record<string, number>;
  rssPeakMb: number;
  rssBeforeMb: number;
}

/** Runs a client process to its end; its JSON line. */
async function client(args: string[], onReady?: () => void): Promise<Record<string, unknown>> {
  const child = spawn('node', ['--import', 'tsx', 'bench/isolation-client.ts', ...args], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  if (onReady) void waitLine(child, /ready/, 'stderr', 120_000).then(onReady);
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  let err = '';
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
  if (code !== 0) throw new Error(`client ${args.join(' ')} failed (${code}): ${err}`);
  return JSON.parse(out.trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
}

const rssMb = (pid: number): number => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
};

const pct = (sorted: number[], p: number): number =>
  sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;

/**
 * The floors as one JavaScript file (esbuild, packages left external): run without tsx, whose loader thread would add
 * its own isolate to the floor's RSS (phiguard runs from dist/).
 */
const FLOOR_JS = path.join(OUT, 'isolation-floor.mjs');
function buildFloor(): void {
  const r = spawnSync(
    'node_modules/.bin/esbuild',
    ['bench/isolation-floor.ts', '--bundle', '--platform=node', '--format=esm', '--packages=external'],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`esbuild bench/isolation-floor.ts: ${r.stderr}`);
  // In bench/out, its packages resolve from the repository's node_modules.
  writeFileSync(FLOOR_JS, r.stdout);
}

async function serve(server: string): Promise<{ child: ChildProcess; port: number }> {
  if (server !== 'phiguard') {
    const floor = spawn('node', [FLOOR_JS, server], {
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const m = await waitLine(floor, /listening on 127\.0\.0\.1:(\d+)/, 'stderr', 120_000);
    return { child: floor, port: Number(m[1]) };
  }
  const audit = path.join(OUT, 'isolation-audit.jsonl');
  rmSync(audit, { force: true });
  const child = spawn(
    'node',
    [
      ...NODE_FLAGS,
      'bin/phiguard.js',
      'serve',
      ...['--port', '0', '--metrics-port', '0', '--policies', 'examples/policies', '--audit-file', audit],
      ...['--log-level', 'warn', '--decisions', 'thread', ...FLAGS],
    ],
    { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...SERVE_ENV } },
  );
  const m = await waitLine(child, /listening on 127\.0\.0\.1:(\d+)/, 'stderr', 120_000);
  return { child, port: Number(m[1]) };
}

async function phase(name: string, server: string): Promise<Phase> {
  const { child, port } = await serve(server);
  const pid = child.pid ?? 0;
  try {
    await client(['streams', String(port), '3', '1', '50']); // warm-up
    const rssBeforeMb = rssMb(pid);
    let rssPeakMb = rssBeforeMb;
    const sampler = setInterval(() => (rssPeakMb = Math.max(rssPeakMb, rssMb(pid))), 20);
    let canary: Promise<Record<string, unknown>> | undefined;
    const started = new Promise<void>((resolve) => {
      const args =
        name === 'bundles'
          ? ['bundles', String(port), String(SECONDS + 3), '8']
          : ['streams', String(port), String(SECONDS + 3), '10', String(STREAMS)];
      const load = client(args, () => {
        // The load has connected and starts now; the canary starts a second later, into the steady state.
        setTimeout(() => {
          canary = client(['canary', String(port), String(SECONDS)]);
          resolve();
        }, 1000);
      });
      void load.then((l) => ((loadResult = l), undefined));
    });
    let loadResult: Record<string, unknown> | undefined;
    await started;
    const c = (await canary) ?? {};
    while (loadResult === undefined) await new Promise((r) => setTimeout(r, 100));
    clearInterval(sampler);
    const lat = [...((c['latencies'] as number[] | undefined) ?? [])].sort((a, b) => a - b);
    return {
      name,
      server,
      canary: {
        n: lat.length,
        p50: pct(lat, 50),
        p99: pct(lat, 99),
        max: lat[lat.length - 1] ?? NaN,
        outcomes: c['outcomes'] as Record<string, number>,
      },
      load: loadResult['outcomes'] as Record<string, number>,
      rssPeakMb,
      rssBeforeMb,
    };
  } finally {
    child.kill('SIGTERM');
    await new Promise((r) => child.on('exit', r));
  }
}

async function main(): Promise<void> {
  mkdirSync(OUT, { recursive: true });
  if (SERVERS.some((s) => s !== 'phiguard')) buildFloor();
  const results: Phase[] = [];
  for (const name of PHASES) for (const server of SERVERS) results.push(await phase(name, server));
  const f = (n: number): string => n.toFixed(1).padStart(7);
  let out = `\nphiguard isolation benchmark: ${SECONDS} s per phase, serve flags [${FLAGS.join(' ')}], node flags [${NODE_FLAGS.join(' ')}], env [${Object.entries(
    SERVE_ENV,
  )
    .map(([k, v]) => `${k}=${v}`)
    .join(' ')}], Node ${process.version}\n`;
  out +=
    'phase    | server   | canary n | p50 ms |  p99 ms |  max ms | RSS MB (before) | load answers (gRPC status: count)\n';
  let wrong = false;
  for (const r of results) {
    out += `${r.name.padEnd(8)} | ${r.server.padEnd(8)} | ${String(r.canary.n).padStart(8)} |${f(r.canary.p50)} |${f(r.canary.p99)} |${f(r.canary.max)} | ${f(r.rssPeakMb)} (${r.rssBeforeMb.toFixed(0)}) | ${JSON.stringify(r.load)}; canary ${JSON.stringify(r.canary.outcomes)}\n`;
    const onlyOk = (t: Record<string, number>): boolean => Object.keys(t).every((k) => k === '0');
    if (r.server === 'phiguard' && (!onlyOk(r.canary.outcomes) || (r.name === 'bundles' && !onlyOk(r.load))))
      wrong = true;
  }
  out +=
    'targets (phiguard): bundles canary p99 <= 25 ms, max <= 100 ms; streams canary p99 <= 100 ms; RSS <= 400 MB; every Bundle allowed (status 0)\n' +
    'grpc-js, http2: floors that decide nothing (bench/isolation-floor.ts), under the same load\n';
  process.stdout.write(out);
  writeFileSync(
    path.join(OUT, 'isolation.json'),
    `${JSON.stringify({ date: new Date().toISOString(), seconds: SECONDS, flags: FLAGS, nodeFlags: NODE_FLAGS, results }, null, 2)}\n`,
  );
  if (wrong) {
    process.stderr.write('bench:isolation: a Bundle or canary check was not answered as the policy decides\n');
    process.exit(1);
  }
}

main().catch((e: unknown) => {
  process.stderr.write(`bench:isolation failed: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
