/**
 * `npm run bench:wasm`: what the proxy-wasm filter costs per request in the proxy, beside the ext_authz round trip
 * that an in-proxy decision saves, measured in the same run (docs/wasm.md, "Performance").
 *
 * In-proxy: the module built by `npm run build:wasm`, configured with the program `phiguard generate wasm-config`
 * writes for examples/policies plus the fixture agent whose rules the proxy sees (test/wasm/fixtures/policies), runs
 * in the Node proxy-wasm host of the tests (test/wasm/proxy-wasm-host.ts). One request is timed with
 * `process.hrtime.bigint()` around the host's call sequence for one stream: context created, request headers
 * (where the filter decides), and for a decided request the stream's end (on_done, on_log, on_delete). A deferred
 * request is timed up to `proxy_grpc_call` being issued (the return of `proxy_on_request_headers`); applying the
 * service's answer (`proxy_on_grpc_receive`, the stream's end) is timed separately. Three program variants run:
 * deny only and `--allow-in-proxy`, both with the default `--defer-to callout` (the filter Checks a deferred request
 * itself), and deny only with `--defer-to next-filter`, as the shipped manifests generate it (deploy/overlays/
 * istio-wasm, envoy/envoy-wasm.yaml): a deferred request goes on to Envoy's ext_authz filter, so it is timed up to
 * `proxy_on_request_headers` returning Continue with no call issued (checked), and the stream's end separately.
 *
 * Round trip: `phiguard serve` (the same policies, audit to a file, decision thread, as `npm run bench` runs it)
 * and the bare allow-all server (bench/bare-server.ts, the floor) answer Check calls from a grpc-js client, one at a
 * time and with a few in flight, for CheckRequests equivalent to the requests timed in the proxy (the principal,
 * method, path, host and headers the filter sees; encoded once, so the client's time is the call, not protobuf
 * encoding). Each round runs every measurement once, so the machine's drift spreads over all of them.
 *
 * The module runs in V8 under Node's WebAssembly, as in Envoy's V8 runtime, but the host functions are JavaScript
 * here, not Envoy's C++: absolute numbers are indicative, the ratio is the point.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { waitLine } from './wait-line.js';
import { pathToFileURL } from 'node:url';
import { gzipSync } from 'node:zlib';
import * as grpc from '@grpc/grpc-js';
import { CheckInputSchema } from '../authz/index.js';
import { readPolicyDir } from '../authz/policy/index.js';
import { toGrpcCheckRequest } from '../generator/call/index.js';
import { loadEnvoyRoot } from '../proto/envoy-protos.js';
import { buildWasmProgram, DEFAULT_DEFER_HEADERS } from '../generator/wasm/index.js';
import { FHIR_BASES, filterModule, programFor, rawCheck, SAN_PROPERTY } from '../test/wasm/filter-harness.js';
import { startHost, type Header, type ProxyWasmHost, type Stream } from '../test/wasm/proxy-wasm-host.js';

/** What a request is to the filter: decided in the proxy (and how), or sent to the service. */
export const REQUEST_CLASSES = ['deny', 'allow', 'invalid', 'deferred'] as const;
export type RequestClass = (typeof REQUEST_CLASSES)[number];

/** One request of the mix, as Envoy hands it to the filter and as it reaches the service. */
export interface BenchRequest {
  name: string;
  principal: string;
  method: string;
  path: string;
  host: string;
  /** What the filter does with it under `--allow-in-proxy` (the default program defers the allows too). */
  kind: RequestClass;
}

const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const FORMULARY = 'spiffe://cluster.local/ns/pharmacy/sa/formulary-bot';
/** A caller no policy selects by principal: the program has no table for it. */
const UNLISTED = 'spiffe://cluster.local/ns/research/sa/cohort-builder';
const FHIR_HOST = 'fhir.hospital.internal';

/**
 * The mix, one of each per cycle. With `--allow-in-proxy`: 4 rule denies, 3 allows, 4 invalid request lines, 3
 * deferred; with the default program the 3 allows are deferred too.
 */
export const BENCH_REQUESTS: readonly BenchRequest[] = (
  [
    ['cds read (default-deny)', CDS, 'GET', '/fhir/Observation/o-1', 'deny'],
    ['cds history-system (no-bulk)', CDS, 'GET', '/fhir/_history', 'deny'],
    ['formulary delete (no-deletes)', FORMULARY, 'DELETE', '/fhir/Medication/m-1', 'deny'],
    ['formulary patient read (default-deny)', FORMULARY, 'GET', '/fhir/Patient/p-1', 'deny'],
    ['formulary read (read-formulary)', FORMULARY, 'GET', '/fhir/Medication/m-1', 'allow'],
    ['formulary vread (read-formulary)', FORMULARY, 'GET', '/fhir/MedicationKnowledge/mk-1/_history/2', 'allow'],
    ['formulary metadata (capabilities)', FORMULARY, 'GET', '/fhir/metadata', 'allow'],
    ['cds dot segment (invalid)', CDS, 'GET', '/fhir/Observation/%2e%2e/Patient', 'invalid'],
    ['cds empty segment (invalid)', CDS, 'GET', '/fhir//Patient', 'invalid'],
    ['formulary encoded slash (invalid)', FORMULARY, 'GET', '/fhir/Patient%2Fp-1', 'invalid'],
    ['cds wrong-case type (invalid)', CDS, 'GET', '/fhir/observation/o-1', 'invalid'],
    ['cds vitals search (deferred)', CDS, 'GET', '/fhir/Observation?patient=p-1001&category=vital-signs', 'deferred'],
    ['cds condition search (deferred)', CDS, 'GET', '/fhir/Condition?patient=p-1001', 'deferred'],
    ['unlisted caller (deferred)', UNLISTED, 'GET', '/fhir/Patient/p-1', 'deferred'],
  ] as const
).map(([name, principal, method, path, kind]) => ({ name, principal, method, path, host: FHIR_HOST, kind }));

/** The headers besides the pseudo-headers, as an Envoy sidecar passes them on (fixed per request of the mix). */
function ordinaryHeaders(i: number): Header[] {
  return [
    ['accept', 'application/fhir+json'],
    ['user-agent', 'agent-sdk/1.4'],
    ['x-forwarded-proto', 'http'],
    ['x-request-id', `0b6f6d1e-1f1c-4b55-9a3e-${String(i).padStart(12, '0')}`],
  ];
}

/** The request's headers in the order Envoy hands them to a filter: pseudo-headers first. */
function envoyRequestHeaders(r: BenchRequest, i: number): Header[] {
  return [[':method', r.method], [':path', r.path], [':authority', r.host], ...ordinaryHeaders(i)];
}

let envoyRoot: ReturnType<typeof loadEnvoyRoot> | undefined;
const authzType = (
  name: 'CheckRequest' | 'CheckResponse',
): ReturnType<ReturnType<typeof loadEnvoyRoot>['lookupType']> =>
  (envoyRoot ??= loadEnvoyRoot(['envoy/service/auth/v3/external_auth.proto'])).lookupType(
    `envoy.service.auth.v3.${name}`,
  );

/** The CheckRequest Envoy's ext_authz filter sends for the request, serialized (envoy.service.auth.v3). */
function checkRequestBytes(r: BenchRequest, i: number): Uint8Array {
  const input = CheckInputSchema.parse({
    attributes: {
      source: { principal: r.principal },
      request: {
        http: {
          method: r.method,
          path: r.path,
          host: r.host,
          headers: Object.fromEntries(envoyRequestHeaders(r, i)),
        },
      },
    },
  });
  const T = authzType('CheckRequest');
  return T.encode(T.fromObject(toGrpcCheckRequest(input))).finish();
}

/** A decision as the service's CheckResponse carries it: the gRPC code (0 allow, 7 deny) and the HTTP status. */
export interface ServiceAnswer {
  code: number;
  status: number;
}

/** Reads a CheckResponse's status code and, for a deny, its HTTP status. */
function readCheckResponse(bytes: Uint8Array): ServiceAnswer {
  const T = authzType('CheckResponse');
  const o = T.toObject(T.decode(bytes), { enums: Number }) as {
    status?: { code?: number };
    denied_response?: { status?: { code?: number } };
  };
  const code = o.status?.code ?? 0;
  return { code, status: code === 0 ? 200 : (o.denied_response?.status?.code ?? 403) };
}

/** Latency samples in µs by label, appended to over the rounds. */
export type Samples = Map<string, number[]>;

function add(samples: Samples, label: string, us: number): void {
  const list = samples.get(label);
  if (list) list.push(us);
  else samples.set(label, [us]);
}

/** Nearest-rank percentiles of a sample set, in µs. */
export interface Summary {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

function summarize(values: readonly number[]): Summary {
  const sorted = Float64Array.from(values).sort();
  const at = (q: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))] ?? 0;
  return { n: sorted.length, p50: at(0.5), p99: at(0.99), max: sorted[sorted.length - 1] ?? 0 };
}

/** The program variants: `--defer-to callout` deny only and with `--allow-in-proxy`; `--defer-to next-filter`. */
export const VARIANTS = ['deny-only', 'allow-in-proxy', 'next-filter'] as const;
export type VariantName = (typeof VARIANTS)[number];

/** A program variant loaded in the host, and what it does with each request of the mix. */
interface Variant {
  name: VariantName;
  /** Where the program sends a deferred request: the filter's own Check call, or on to the next filter. */
  deferTo: 'callout' | 'next-filter';
  host: ProxyWasmHost;
  programBytes: number;
  /** By request index: the class, and for a decided request the filter's answer. */
  classes: RequestClass[];
  answers: Array<ServiceAnswer | undefined>;
}

/** The filter state key of the filter's decision record (an in-proxy allow or deny writes it; a deferral does not). */
const DECISION_STATE = 'wasm.phiguard_decision';

/**
 * Runs a request through the filter once and reads what it did: `defer` with its Check call issued (the stream stays
 * open), `next` on to the next filter (Continue, no call, no decision recorded), or an in-proxy allow or deny.
 */
function probeOne(
  host: ProxyWasmHost,
  r: BenchRequest,
  i: number,
): { kind: 'allow' | 'deny' | 'defer' | 'next'; status: number; stream: Stream } {
  const stream = host.request(envoyRequestHeaders(r, i), { [SAN_PROPERTY]: r.principal });
  if (host.httpCalls.size > 0) throw new Error(`${r.name}: the filter made an HTTP call`);
  if (host.grpcCalls.size > 0) return { kind: 'defer', status: 0, stream };
  const recorded = stream.filterState.has(DECISION_STATE);
  host.finish(stream);
  if (stream.localResponse) return { kind: 'deny', status: stream.localResponse.status, stream };
  if (stream.action === 0) return { kind: recorded ? 'allow' : 'next', status: 200, stream };
  throw new Error(`${r.name}: the filter neither decided nor deferred`);
}

async function loadVariant(
  name: VariantName,
  module: Uint8Array,
  program: string,
  deferTo: Variant['deferTo'],
): Promise<Variant> {
  const host = await startHost(module, { pluginConfiguration: program });
  if (!host.configured) throw new Error(`${name}: the filter refused its program`);
  const classes: RequestClass[] = [];
  const answers: Array<ServiceAnswer | undefined> = [];
  BENCH_REQUESTS.forEach((r, i) => {
    const a = probeOne(host, r, i);
    const expected = name !== 'allow-in-proxy' && r.kind === 'allow' ? 'deferred' : r.kind;
    // A deferral is the filter's own call with --defer-to callout, and Continue with no call with next-filter.
    const deferral = deferTo === 'callout' ? 'defer' : 'next';
    const got =
      a.kind === deferral
        ? 'deferred'
        : a.kind === 'allow'
          ? 'allow'
          : a.kind === 'deny'
            ? r.kind === 'invalid'
              ? 'invalid'
              : 'deny'
            : `${a.kind} (not a ${deferTo} deferral)`;
    if (got !== expected) throw new Error(`${r.name}: the filter (${name}) ${a.kind}s it, the mix expects ${expected}`);
    if (a.kind === 'next') {
      classes.push('deferred');
      answers.push(undefined);
      return;
    }
    if (a.kind === 'defer') {
      classes.push('deferred');
      answers.push(undefined);
      const [token] = host.grpcCalls.keys();
      if (token !== undefined) host.failGrpc(token, 14);
      host.finish(a.stream);
      return;
    }
    classes.push(got);
    answers.push({ code: a.kind === 'allow' ? 0 : 7, status: a.status });
  });
  return { name, deferTo, host, programBytes: Buffer.byteLength(program), classes, answers };
}

/**
 * Times `count` requests of the mix (round robin) through the filter after `warmup` untimed ones. With
 * `--defer-to callout`, a deferred request's call is answered with `answers[i]` (the service's own CheckResponse
 * bytes), timed as `deferred-answer`; with `next-filter`, a deferred request must continue with no call issued, and
 * its stream's end is timed as `deferred-end`.
 */
function timeInProxy(
  v: Variant,
  answers: ReadonlyArray<Uint8Array | undefined>,
  count: number,
  warmup: number,
  samples: Samples,
): void {
  const headers = BENCH_REQUESTS.map((r, i) => envoyRequestHeaders(r, i));
  const properties = BENCH_REQUESTS.map((r) => ({ [SAN_PROPERTY]: r.principal }));
  const host = v.host;
  for (let k = 0; k < warmup + count; k++) {
    const i = k % BENCH_REQUESTS.length;
    const cls = v.classes[i] ?? 'deferred';
    const h = headers[i] ?? [];
    const p = properties[i] ?? {};
    if (cls === 'deferred' && v.deferTo === 'next-filter') {
      const t0 = process.hrtime.bigint();
      const s = host.request(h, p);
      const t1 = process.hrtime.bigint();
      if (s.action !== 0 || s.localResponse || host.grpcCalls.size > 0 || host.httpCalls.size > 0)
        throw new Error(`${String(i)}: the filter did not pass the request on to the next filter without a call`);
      const t2 = process.hrtime.bigint();
      host.finish(s);
      const t3 = process.hrtime.bigint();
      if (k >= warmup) {
        add(samples, 'deferred', Number(t1 - t0) / 1000);
        add(samples, 'deferred-end', Number(t3 - t2) / 1000);
      }
      continue;
    }
    if (cls === 'deferred') {
      const t0 = process.hrtime.bigint();
      const s = host.request(h, p);
      const t1 = process.hrtime.bigint();
      const [token] = host.grpcCalls.keys();
      const answer = answers[i];
      if (token === undefined || answer === undefined) throw new Error(`${String(i)}: no call-out`);
      const t2 = process.hrtime.bigint();
      host.completeGrpc(token, answer);
      host.finish(s);
      const t3 = process.hrtime.bigint();
      if (k >= warmup) {
        add(samples, 'deferred', Number(t1 - t0) / 1000);
        add(samples, 'deferred-answer', Number(t3 - t2) / 1000);
      }
      continue;
    }
    const t0 = process.hrtime.bigint();
    const s = host.request(h, p);
    host.finish(s);
    const t1 = process.hrtime.bigint();
    const decidedAs = s.localResponse ? s.localResponse.status : s.action === 0 ? 200 : -1;
    if (decidedAs !== v.answers[i]?.status) throw new Error(`${String(i)}: the filter's answer changed`);
    if (k >= warmup) {
      add(samples, cls, Number(t1 - t0) / 1000);
      add(samples, 'decided', Number(t1 - t0) / 1000);
    }
  }
}

/**
 * Times `count` Check calls (round robin over the mix) with `concurrency` in flight after `warmup` untimed ones;
 * samples are labelled by the request's class in `classes`.
 */
async function timeRoundTrip(
  client: grpc.Client,
  messages: readonly Uint8Array[],
  classes: readonly RequestClass[],
  count: number,
  warmup: number,
  concurrency: number,
  samples: Samples,
): Promise<void> {
  let next = 0;
  const total = warmup + count;
  const worker = async (): Promise<void> => {
    while (next < total) {
      const k = next++;
      const i = k % messages.length;
      const m = messages[i];
      if (!m) throw new Error('no message');
      const t0 = process.hrtime.bigint();
      await rawCheck(client, m, 10_000);
      const us = Number(process.hrtime.bigint() - t0) / 1000;
      if (k >= warmup) {
        const cls = classes[i] ?? 'deferred';
        add(samples, cls, us);
        if (cls !== 'deferred') add(samples, 'decided', us);
        add(samples, 'all', us);
      }
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
}

export interface WasmBenchOptions {
  /** A directory holding the policies the program is generated from and the service runs with. */
  policiesDir: string;
  /** `phiguard serve` with those policies. */
  phiguardAddress: string;
  /** The bare allow-all Check server (the floor); left out when absent. */
  bareAddress?: string;
  /** Timed in-proxy requests per program variant, over all rounds. */
  requests: number;
  /** Untimed in-proxy requests per variant before the first round. */
  warmup: number;
  /** Timed Check calls per server and concurrency, over all rounds. */
  checks: number;
  /** Untimed Check calls per server before the first round. */
  checkWarmup: number;
  /** Check calls in flight for the second round-trip measurement (the first is one at a time). */
  concurrency: number;
  rounds: number;
}

/** Everything one run measured, in µs; written to bench/out/wasm.json. */
export interface WasmBenchReport {
  module: { bytes: number; gzipBytes: number };
  programs: Record<VariantName, { bytes: number; classes: Record<string, RequestClass> }>;
  inProxy: Record<VariantName, Record<string, Summary>>;
  roundTrip: Record<string, Record<string, Summary>>;
  ratios: {
    /** In-proxy decision (allow-in-proxy variant) against phiguard's round trip, one call at a time. */
    decidedP50: number;
    decidedP99: number;
    /** The same against the bare server's round trip. */
    decidedVsBareP50: number | undefined;
    decidedVsBareP99: number | undefined;
    /** What the filter adds to a deferred request (call-out issued + answer applied, p50s), against its round trip. */
    deferredOverheadP50: number;
    deferredOverheadP99: number;
    /** The same against the bare server's round trip (a service with no decision work). */
    deferredOverheadVsBareP50: number | undefined;
    /**
     * `--defer-to next-filter`: what the filter adds to a deferred request (the decision to defer + the stream's end,
     * p50s), against phiguard's round trip (the Check Envoy's ext_authz filter then makes).
     */
    nextFilterOverheadP50: number;
    nextFilterOverheadP99: number;
  };
}

const roundTripLabel = (server: string, c: number): string => `${server} c=${String(c)}`;

/**
 * The benchmark's core: loads the module with the three program variants, checks that the service decides every
 * request the filter decides the same way, and runs the rounds.
 * @throws when the filter refuses its program, a request's class is not the expected one, or the service decides
 *   a request differently from the filter.
 */
export async function runWasmBench(o: WasmBenchOptions): Promise<WasmBenchReport> {
  const loaded = readPolicyDir(o.policiesDir);
  if (!loaded.ok) throw loaded.error;
  const module = filterModule();
  // As programFor, with the shipped manifests' --defer-to next-filter (deny only: it refuses --allow-in-proxy).
  const nextFilterProgram = await buildWasmProgram(loaded.value.set, {
    fhirBasePaths: FHIR_BASES,
    authzCluster: 'outbound|9191||phiguard.phiguard.svc.cluster.local',
    timeoutMs: 200,
    allowInProxy: false,
    hosts: [],
    deferHeaders: [...DEFAULT_DEFER_HEADERS],
    deferTo: 'next-filter',
  });
  const variants = [
    await loadVariant('deny-only', module, await programFor(loaded.value.set, false), 'callout'),
    await loadVariant('allow-in-proxy', module, await programFor(loaded.value.set, true), 'callout'),
    await loadVariant('next-filter', module, nextFilterProgram.text, 'next-filter'),
  ];
  const full = variants[1];
  if (!full) throw new Error('no allow-in-proxy variant');
  for (const cls of REQUEST_CLASSES)
    if (!full.classes.includes(cls)) throw new Error(`the mix has no ${cls} request with --allow-in-proxy`);

  const messages = BENCH_REQUESTS.map((r, i) => checkRequestBytes(r, i));
  const phiguard = new grpc.Client(o.phiguardAddress, grpc.credentials.createInsecure());
  const bare = o.bareAddress ? new grpc.Client(o.bareAddress, grpc.credentials.createInsecure()) : undefined;
  try {
    // The service's answers: the same decisions as the filter's, and the bytes a deferred call is answered with.
    const answers: Array<Uint8Array | undefined> = [];
    for (const [i, r] of BENCH_REQUESTS.entries()) {
      const m = messages[i];
      if (!m) throw new Error('no message');
      const reply = await rawCheck(phiguard, m, 10_000);
      const service = readCheckResponse(reply);
      answers.push(reply);
      for (const v of variants) {
        const f = v.answers[i];
        if (f && (f.code !== service.code || f.status !== service.status))
          throw new Error(
            `${r.name}: the filter (${v.name}) answers ${String(f.status)}, the service ${String(service.status)}`,
          );
      }
    }

    const inProxy = new Map<string, Samples>();
    const roundTrip = new Map<string, Samples>();
    /** The sample set under `label`, created on first use. */
    const samplesOf = (sets: Map<string, Samples>, label: string): Samples => {
      const s = sets.get(label) ?? new Map<string, number[]>();
      sets.set(label, s);
      return s;
    };
    const servers: Array<[string, grpc.Client]> = [['phiguard', phiguard]];
    if (bare) servers.push(['bare', bare]);
    for (const v of variants) timeInProxy(v, answers, 0, o.warmup, new Map<string, number[]>());
    for (const [, client] of servers)
      await timeRoundTrip(client, messages, full.classes, 0, o.checkWarmup, o.concurrency, new Map<string, number[]>());
    const perRound = (n: number): number => Math.max(1, Math.ceil(n / o.rounds));
    for (let round = 0; round < o.rounds; round++) {
      for (const v of variants) timeInProxy(v, answers, perRound(o.requests), 0, samplesOf(inProxy, v.name));
      for (const c of new Set([1, o.concurrency]))
        for (const [name, client] of servers) {
          const s = samplesOf(roundTrip, roundTripLabel(name, c));
          await timeRoundTrip(client, messages, full.classes, perRound(o.checks), 0, c, s);
        }
    }

    const summaries = (s: Samples | undefined): Record<string, Summary> => {
      const out: Record<string, Summary> = {};
      for (const [label, values] of s ?? new Map<string, number[]>()) out[label] = summarize(values);
      return out;
    };
    const report: WasmBenchReport = {
      module: { bytes: module.length, gzipBytes: gzipSync(module, { level: 9 }).length },
      programs: {
        'deny-only': programSummary(variants[0]),
        'allow-in-proxy': programSummary(full),
        'next-filter': programSummary(variants[2]),
      },
      inProxy: {
        'deny-only': summaries(inProxy.get('deny-only')),
        'allow-in-proxy': summaries(inProxy.get('allow-in-proxy')),
        'next-filter': summaries(inProxy.get('next-filter')),
      },
      roundTrip: Object.fromEntries([...roundTrip].map(([label, s]) => [label, summaries(s)])),
      ratios: {
        decidedP50: 0,
        decidedP99: 0,
        decidedVsBareP50: undefined,
        decidedVsBareP99: undefined,
        deferredOverheadP50: 0,
        deferredOverheadP99: 0,
        deferredOverheadVsBareP50: undefined,
        nextFilterOverheadP50: 0,
        nextFilterOverheadP99: 0,
      },
    };
    const ip = report.inProxy['allow-in-proxy'];
    const pg = report.roundTrip[roundTripLabel('phiguard', 1)];
    const br = report.roundTrip[roundTripLabel('bare', 1)];
    const decided = ip['decided'];
    const deferred = ip['deferred'];
    const deferredAnswer = ip['deferred-answer'];
    const nf = report.inProxy['next-filter'];
    const nfDeferred = nf['deferred'];
    const nfEnd = nf['deferred-end'];
    if (!decided || !deferred || !deferredAnswer || !nfDeferred || !nfEnd || !pg?.['decided'] || !pg['deferred'])
      throw new Error('a measurement is missing');
    report.ratios = {
      decidedP50: decided.p50 / pg['decided'].p50,
      decidedP99: decided.p99 / pg['decided'].p99,
      decidedVsBareP50: br?.['decided'] ? decided.p50 / br['decided'].p50 : undefined,
      decidedVsBareP99: br?.['decided'] ? decided.p99 / br['decided'].p99 : undefined,
      deferredOverheadP50: (deferred.p50 + deferredAnswer.p50) / pg['deferred'].p50,
      deferredOverheadP99: (deferred.p99 + deferredAnswer.p99) / pg['deferred'].p99,
      deferredOverheadVsBareP50: br?.['deferred']
        ? (deferred.p50 + deferredAnswer.p50) / br['deferred'].p50
        : undefined,
      nextFilterOverheadP50: (nfDeferred.p50 + nfEnd.p50) / pg['deferred'].p50,
      nextFilterOverheadP99: (nfDeferred.p99 + nfEnd.p99) / pg['deferred'].p99,
    };
    return report;
  } finally {
    phiguard.close();
    bare?.close();
  }
}

function programSummary(v: Variant | undefined): WasmBenchReport['programs']['deny-only'] {
  if (!v) throw new Error('no variant');
  return {
    bytes: v.programBytes,
    classes: Object.fromEntries(BENCH_REQUESTS.map((r, i) => [r.name, v.classes[i] ?? 'deferred'])),
  };
}

const fmt = (us: number): string => (us >= 100 ? us.toFixed(0) : us.toFixed(1));

/** The report as the table `npm run bench:wasm` prints. */
export function formatReport(r: WasmBenchReport): string {
  const row = (label: string, s: Summary | undefined): string =>
    s
      ? `  ${label.padEnd(34)} ${String(s.n).padStart(7)} ${fmt(s.p50).padStart(8)} ${fmt(s.p99).padStart(8)} ${fmt(s.max).padStart(9)}\n`
      : '';
  const head = `  ${''.padEnd(34)} ${'n'.padStart(7)} ${'p50 µs'.padStart(8)} ${'p99 µs'.padStart(8)} ${'max µs'.padStart(9)}\n`;
  let out = `module: ${String(r.module.bytes)} bytes, ${String(r.module.gzipBytes)} gzipped; program: ${String(r.programs['deny-only'].bytes)} bytes (deny only), ${String(r.programs['allow-in-proxy'].bytes)} (--allow-in-proxy), ${String(r.programs['next-filter'].bytes)} (--defer-to next-filter)\n\n`;
  const titles: Record<VariantName, string> = {
    'allow-in-proxy': '--allow-in-proxy program (--defer-to callout)',
    'deny-only': 'deny-only program (--defer-to callout)',
    'next-filter': 'deny-only program with --defer-to next-filter (as the shipped manifests)',
  };
  const labels: Record<string, string> = {
    decided: 'decided (deny+allow+invalid)',
    deferred: 'deferred: to the call-out',
    'deferred-answer': 'deferred: answer applied',
  };
  for (const v of ['allow-in-proxy', 'deny-only', 'next-filter'] as const) {
    out += `in-proxy, ${titles[v]}\n${head}`;
    const s = r.inProxy[v];
    const vLabels =
      v === 'next-filter'
        ? { ...labels, deferred: 'deferred: to Continue (no call)', 'deferred-end': 'deferred: stream end' }
        : labels;
    for (const label of ['deny', 'allow', 'invalid', 'decided', 'deferred', 'deferred-answer', 'deferred-end'])
      out += row(vLabels[label] ?? label, s[label]);
    out += '\n';
  }
  for (const [label, s] of Object.entries(r.roundTrip)) {
    out += `ext_authz round trip, ${label}\n${head}`;
    for (const cls of ['deny', 'allow', 'invalid', 'decided', 'deferred', 'all']) out += row(cls, s[cls]);
    out += '\n';
  }
  const x = r.ratios;
  out += `in-proxy decision / phiguard round trip (one at a time): p50 ${x.decidedP50.toFixed(3)}, p99 ${x.decidedP99.toFixed(3)}\n`;
  if (x.decidedVsBareP50 !== undefined && x.decidedVsBareP99 !== undefined)
    out += `in-proxy decision / bare server round trip (one at a time): p50 ${x.decidedVsBareP50.toFixed(3)}, p99 ${x.decidedVsBareP99.toFixed(3)}\n`;
  out += `deferred: filter work (call-out + answer) / phiguard round trip: p50 ${(100 * x.deferredOverheadP50).toFixed(1)}%, p99 ${(100 * x.deferredOverheadP99).toFixed(1)}%\n`;
  if (x.deferredOverheadVsBareP50 !== undefined)
    out += `deferred: filter work (call-out + answer) / bare server round trip: p50 ${(100 * x.deferredOverheadVsBareP50).toFixed(1)}%\n`;
  out += `next-filter deferred: filter work (decision to defer + stream end) / phiguard round trip: p50 ${(100 * x.nextFilterOverheadP50).toFixed(1)}%, p99 ${(100 * x.nextFilterOverheadP99).toFixed(1)}%\n`;
  return out;
}

async function stop(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  await exited;
}

/** The policies of the run: examples/policies and the fixture agent whose rules the proxy sees, in one directory. */
export function writeBenchPolicies(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  cpSync('examples/policies', dir, { recursive: true });
  for (const f of readdirSync('test/wasm/fixtures/policies'))
    cpSync(path.join('test/wasm/fixtures/policies', f), path.join(dir, f));
}

const int = (name: string, fallback: number): number => {
  const v = Number(process.env[name] ?? String(fallback));
  if (!Number.isInteger(v) || v < 0) throw new Error(`${name} must be a non-negative integer`);
  return v;
};

async function main(): Promise<void> {
  const OUT = path.resolve('bench/out');
  mkdirSync(OUT, { recursive: true });
  const policiesDir = path.join(OUT, 'wasm-policies');
  writeBenchPolicies(policiesDir);
  const audit = path.join(OUT, 'wasm-audit.jsonl');
  rmSync(audit, { force: true });
  const uptimeBefore = spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();

  // The service from its sources (tsx), so the script needs no `npm run build`; flags as bench/run.ts passes them.
  const serveArgs = [
    ...['serve', '--port', '0', '--metrics-port', '0', '--policies', policiesDir, '--audit-file', audit],
    ...['--log-level', 'warn', '--decisions', 'thread'],
  ];
  const pg = spawn(
    process.execPath,
    [
      ...['--import', 'tsx', '--input-type=module', '-e'],
      "const { main } = await import('./generator/cli.ts'); process.exitCode = await main(['node', 'phiguard', ...process.argv.slice(1)]);",
      ...serveArgs,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const bare = spawn(process.execPath, ['--import', 'tsx', 'bench/bare-server.ts', '0'], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  try {
    const pgPort = Number((await waitLine(pg, /listening on 127\.0\.0\.1:(\d+)/, 'stderr', 60_000))[1]);
    const barePort = Number((await waitLine(bare, /listening (\d+)/, 'stdout', 60_000))[1]);
    const options: WasmBenchOptions = {
      policiesDir,
      phiguardAddress: `127.0.0.1:${String(pgPort)}`,
      bareAddress: `127.0.0.1:${String(barePort)}`,
      requests: int('WASM_BENCH_REQUESTS', 100_000),
      warmup: int('WASM_BENCH_WARMUP', 20_000),
      checks: int('WASM_BENCH_CHECKS', 20_000),
      checkWarmup: int('WASM_BENCH_CHECK_WARMUP', 20_000),
      concurrency: int('WASM_BENCH_CONCURRENCY', 8),
      rounds: Math.max(1, int('WASM_BENCH_ROUNDS', 5)),
    };
    const report = await runWasmBench(options);
    await stop(pg);
    const auditLines = readFileSync(audit, 'utf8').split('\n').filter(Boolean).length;
    const uptimeAfter = spawnSync('uptime', { encoding: 'utf8' }).stdout.trim();
    const settings = { ...options, node: process.version, uptimeBefore, uptimeAfter, auditLines };
    const text = `${formatReport(report)}\naudit records written by phiguard: ${String(auditLines)}\nuptime before: ${uptimeBefore}\nuptime after:  ${uptimeAfter}\n`;
    process.stdout.write(text);
    writeFileSync(path.join(OUT, 'wasm.txt'), text);
    writeFileSync(
      path.join(OUT, 'wasm.json'),
      `${JSON.stringify({ date: new Date().toISOString(), settings, ...report }, null, 2)}\n`,
    );
  } finally {
    await stop(pg);
    await stop(bare);
  }
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) await main();
