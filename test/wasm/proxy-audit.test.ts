/**
 * The audit of decisions made in the proxy, end to end: the filter decides requests in the test host, the host plays
 * Envoy's gRPC HTTP access logger (`envoy.access_loggers.http_grpc` with `filter_state_objects_to_log:
 * [wasm.phiguard_decision]`: StreamAccessLogsMessages built with Envoy's own protos, sent over a real gRPC client
 * stream with the `x-forwarded-client-cert` header a sidecar sets), and the real service (`--proxy-audit`, both
 * topologies) writes the records. Every in-proxy decision has exactly one record, with the filter's decision id,
 * decision, rule and status and the service's reading of the request (patients, interaction, invalid reason); every
 * deferred request has the service's own record; nothing else is recorded. Then who may report, and what is refused.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import * as grpc from '@grpc/grpc-js';
import { readFileSync } from 'node:fs';
import { ClaimsConfigSchema, createClaimsResolver } from '../../authz/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { xfccPeerUri } from '../../authz/identity/index.js';
import { filterStateText, ProxyDecisionSchema } from '../../authz/service/proxy-audit.js';
import { encodeAccessLogs, filterStateAny, PROXY_DECISION_STATE } from '../../authz/transport/index.js';
import { checkInputFor, explain, type ExplainRequest } from '../../generator/explain/index.js';
import { startTestServer, TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';
import { FHIR_BASES, hostFor, programFor, rawCheck, runFilter } from './filter-harness.js';
import type { ProxyWasmHost, Stream } from './proxy-wasm-host.js';

const POLICY_FILE = 'test/wasm/fixtures/policies/formulary-bot.yaml';
const PRINCIPAL = 'spiffe://cluster.local/ns/pharmacy/sa/formulary-bot';
const REPORTER = 'spiffe://cluster.local/ns/fhir/sa/fhir-server';
const STREAM_PATH = '/envoy.service.accesslog.v3.AccessLogService/StreamAccessLogs';
const host = 'fhir.hospital.internal';

const xfccOf = (uri: string): string =>
  `By=spiffe://cluster.local/ns/phiguard-system/sa/phiguard;Hash=0a1b;Subject="";URI=${uri}`;

/** What the filter did with one request, and the access-log entry Envoy would send for its stream. */
interface Logged {
  request: ExplainRequest;
  kind: 'allow' | 'deny' | 'defer';
  state: Record<string, unknown> | undefined;
  /** The filter state's text. */
  raw: string | undefined;
  /** The request headers as the filter left them. */
  headers: ReadonlyArray<readonly [string, string]>;
  entry: Record<string, unknown>;
}

/** The access-log entry of a finished stream, as Envoy's gRPC HTTP logger builds it (data/accesslog/v3). */
function entryOf(stream: Stream, r: ExplainRequest, startMs: number): Record<string, unknown> {
  const state = stream.filterState.get('wasm.phiguard_decision');
  return {
    common_properties: {
      start_time: { seconds: Math.floor(startMs / 1000), nanos: (startMs % 1000) * 1e6 },
      ...(state === undefined ? {} : { filter_state_objects: { [PROXY_DECISION_STATE]: filterStateAny(state) } }),
    },
    request: { request_method: r.method, path: r.path, authority: host },
    response: { response_code: { value: stream.localResponse?.status ?? 200 } },
  };
}

/** Sends messages on one StreamAccessLogs stream (the identifier on the first) and ends it; resolves when answered. */
function streamLogs(client: grpc.Client, messages: Buffer[], xfcc: string | undefined): Promise<void> {
  const md = new grpc.Metadata();
  if (xfcc !== undefined) md.set('x-forwarded-client-cert', xfcc);
  return new Promise((resolve, reject) => {
    const call = client.makeClientStreamRequest(
      STREAM_PATH,
      (b: Buffer) => b,
      (b: Buffer) => b,
      md,
      { deadline: Date.now() + 10_000 },
      (e) => (e ? reject(e) : resolve()),
    );
    for (const m of messages) call.write(m);
    call.end();
  });
}

/** Envoy's messages for these entries: `perMessage` entries each (its buffer), the identifier on the first. */
function logMessages(entries: Record<string, unknown>[], perMessage: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < entries.length; i += perMessage)
    out.push(
      encodeAccessLogs({
        ...(i === 0
          ? {
              identifier: { node: { id: 'sidecar~10.0.0.7~fhir-0.fhir~fhir.svc.cluster.local' }, log_name: 'phiguard' },
            }
          : {}),
        http_logs: { log_entry: entries.slice(i, i + perMessage) },
      }),
    );
  return out;
}

const CORPUS: ExplainRequest[] = [
  ...['Medication/m-1', 'Medication/m-2/_history/3', 'metadata', 'Patient/p-1', 'Observation/o-9'].map((p) => ({
    method: 'GET',
    path: `/fhir/${p}`,
    principal: PRINCIPAL,
    headers: { 'x-request-id': `rid-${p.replace(/[^A-Za-z0-9]/g, '')}`, 'x-phiguard-agent': 'forged' },
    host,
  })),
  { method: 'DELETE', path: '/fhir/Medication/m-1', principal: PRINCIPAL, headers: {}, host },
  // Invalid request lines, denied in the proxy with their text in the filter state (escaped JSON).
  { method: 'GET', path: '/fhir/Patient/a"b', principal: PRINCIPAL, headers: { 'x-request-id': 'q1' }, host },
  { method: 'GET', path: '/fhir/Patient\\p-1', principal: PRINCIPAL, headers: {}, host },
  { method: 'GET', path: '/fhir/Observation/%2e%2e/Patient', principal: PRINCIPAL, headers: {}, host },
  // Deferred: a query, and another caller.
  { method: 'GET', path: '/fhir/Medication?code=123', principal: PRINCIPAL, headers: {}, host },
  {
    method: 'GET',
    path: '/fhir/Observation?patient=p-1001&category=vital-signs',
    principal: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor',
    headers: {},
    host,
  },
];

async function runCorpus(h: ProxyWasmHost, client: grpc.Client): Promise<Logged[]> {
  const out: Logged[] = [];
  for (let round = 0; round < 4; round++)
    for (const base of CORPUS) {
      const r = {
        ...base,
        headers: Object.fromEntries(Object.entries(base.headers).map(([k, v]) => [k, `${v}-${round}`])),
      };
      const start = Date.now();
      const a = runFilter(h, r);
      if (a.kind === 'defer') {
        const call = h.grpcCalls.get(a.token);
        if (call === undefined) throw new Error('no call');
        h.completeGrpc(a.token, await rawCheck(client, call.message));
        h.finish(a.stream);
      }
      const state = a.stream.filterState.get('wasm.phiguard_decision');
      out.push({
        request: r,
        kind: a.kind,
        state: state === undefined ? undefined : (JSON.parse(state) as Record<string, unknown>),
        raw: state,
        headers: a.stream.headers,
        entry: entryOf(a.stream, r, start),
      });
    }
  return out;
}

async function recordsWhen(s: ServiceUnderTest, enough: (rs: Record<string, unknown>[]) => boolean) {
  const deadline = Date.now() + 10_000;
  let rs = s.auditRecords();
  while (!enough(rs) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    rs = s.auditRecords();
  }
  return rs;
}

const policyFiles = (): Record<string, string> => ({ 'formulary-bot.yaml': readFileSync(POLICY_FILE, 'utf8') });

function fixtureSet() {
  const loaded = readPolicyDir('test/wasm/fixtures/policies');
  if (!loaded.ok) throw loaded.error;
  return loaded.value.set;
}

describe.each(TOPOLOGIES)('in-proxy decisions recorded by the service (%s)', (_name, start) => {
  let server: ServiceUnderTest;
  let client: grpc.Client;
  let h: ProxyWasmHost;
  beforeAll(async () => {
    server = await start({ proxyAudit: 'xfcc', proxyAuditReporters: [REPORTER], fhirBase: FHIR_BASES }, policyFiles());
    client = new grpc.Client(server.addr, grpc.credentials.createInsecure());
    h = await hostFor(await programFor(fixtureSet(), true));
  }, 120_000);
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  test('one record per in-proxy decision, the service’s for each deferred one, nothing more', async () => {
    const logged = await runCorpus(h, client);
    const decided = logged.filter((l) => l.kind !== 'defer');
    const deferred = logged.filter((l) => l.kind === 'defer');
    expect(new Set(decided.map((l) => l.kind))).toEqual(new Set(['allow', 'deny']));
    expect(deferred.length).toBeGreaterThan(0);
    expect(decided.every((l) => l.state !== undefined)).toBe(true);
    expect(deferred.every((l) => l.state === undefined)).toBe(true);
    // Envoy sends every entry of the stream, deferred ones too; 5 entries per message, on two streams.
    const messages = logMessages(
      logged.map((l) => l.entry),
      5,
    );
    const half = Math.ceil(messages.length / 2);
    await Promise.all([
      streamLogs(client, messages.slice(0, half), xfccOf(REPORTER)),
      streamLogs(client, messages.slice(half), xfccOf(REPORTER)),
    ]);
    const records = await recordsWhen(
      server,
      (rs) => rs.filter((r) => r['decidedBy'] === 'proxy').length >= decided.length,
    );
    const proxy = records.filter((r) => r['decidedBy'] === 'proxy');
    const ids = proxy.map((r) => r['decisionId']);
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.sort()).toEqual(decided.map((l) => l.state?.['decisionId']).sort());
    const claims = createClaimsResolver(ClaimsConfigSchema.parse({}));
    const set = fixtureSet();
    for (const l of decided) {
      const r = proxy.find((p) => p['decisionId'] === l.state?.['decisionId']);
      const seen = (await explain(checkInputFor(l.request), set, claims, FHIR_BASES)).attributes as {
        fhir: { patients: string[]; interaction: string; resourceType: string; invalidReason: string };
      };
      expect(r).toMatchObject({
        requestId: l.state?.['requestId'],
        decision: l.state?.['decision'],
        rule: l.state?.['rule'],
        status: l.state?.['status'],
        agent: 'formulary-bot',
        principal: PRINCIPAL,
        method: l.request.method,
        host,
        policyVersion: set.version,
        reportedBy: REPORTER,
        patients: seen.fhir.patients,
        interaction: seen.fhir.interaction,
        resourceType: seen.fhir.resourceType,
        invalidReason: seen.fhir.invalidReason,
      });
    }
    // An in-proxy allow sets the headers the service's OK response sets; what the agent sent under them is gone.
    for (const l of decided.filter((d) => d.kind === 'allow')) {
      expect(l.headers).toContainEqual(['x-phiguard-agent', 'formulary-bot']);
      expect(l.headers).toContainEqual(['x-phiguard-decision', 'allow']);
      expect(l.headers).toContainEqual(['x-phiguard-decision-id', l.state?.['decisionId']]);
      expect(l.headers.filter(([k]) => k === 'x-phiguard-agent')).toHaveLength(1);
    }
    // The filter writes exactly the receiver's form (filterStateText), escapes included.
    for (const l of decided) expect(filterStateText(ProxyDecisionSchema.parse(l.state))).toBe(l.raw);
    // The escaped request line reached the record as the filter saw it.
    const quoted = decided.find((l) => l.request.path === '/fhir/Patient/a"b');
    expect(quoted?.state?.['path']).toBe('/fhir/Patient/a"b');
    const service = records.filter((r) => r['decidedBy'] === 'service');
    expect(service).toHaveLength(deferred.length);
    expect(records).toHaveLength(decided.length + deferred.length);
    expect(await server.metrics()).toContain(`phiguard_proxy_audit_entries_total{result="recorded"} ${decided.length}`);
  }, 120_000);
});

describe('who may report, and what is refused', () => {
  const state = (over: Record<string, unknown> = {}): string =>
    JSON.stringify({
      decision: 'deny',
      rule: 'no-deletes',
      reason: 'rule-deny',
      status: 405,
      agent: 'formulary-bot',
      principal: PRINCIPAL,
      method: 'DELETE',
      path: '/fhir/Medication/m-1',
      authority: host,
      policyVersion: fixtureSet().version,
      decisionId: 'px-17f3a-1',
      requestId: 'rid-1',
      ...over,
    });
  const entry = (text: string): Record<string, unknown> => ({
    common_properties: { filter_state_objects: { [PROXY_DECISION_STATE]: filterStateAny(text) } },
  });

  async function withServer(
    overrides: Parameters<typeof startTestServer>[0],
    run: (s: ServiceUnderTest, c: grpc.Client) => Promise<void>,
  ): Promise<void> {
    const s = await startTestServer({ fhirBase: FHIR_BASES, ...overrides }, policyFiles());
    const c = new grpc.Client(s.addr, grpc.credentials.createInsecure());
    try {
      await run(s, c);
    } finally {
      c.close();
      await s.stop();
    }
  }

  test.each([
    ['a reporter not in --proxy-audit-reporters', xfccOf('spiffe://cluster.local/ns/pharmacy/sa/formulary-bot')],
    ['no x-forwarded-client-cert', undefined],
    ['an XFCC of two elements (appended along a chain)', `${xfccOf(REPORTER)},${xfccOf(REPORTER)}`],
    ['an XFCC with two URIs', `${xfccOf(REPORTER)};URI=spiffe://cluster.local/ns/x/sa/y`],
  ])('%s: nothing recorded', async (_name, xfcc) => {
    await withServer({ proxyAudit: 'xfcc', proxyAuditReporters: [REPORTER] }, async (s, c) => {
      await streamLogs(c, logMessages([entry(state())], 1), xfcc);
      await new Promise((r) => setTimeout(r, 200));
      expect(s.auditRecords()).toHaveLength(0);
      expect(await s.metrics()).toContain('phiguard_proxy_audit_entries_total{result="rejected-reporter"} 1');
    });
  });

  test.each([
    ['an unknown field', state({ extra: 'x' })],
    ['a decision id not of the filter', state({ decisionId: 'not-a-proxy-id' })],
    ['a decision that is not allow or deny', state({ decision: 'defer' })],
    ['not JSON', '{"decision":"deny",'],
    [
      'a duplicated key (JSON.parse would keep the last)',
      state().replace('"decision":"deny"', '"decision":"deny","decision":"allow"'),
    ],
    ['spaces the filter does not write', state().replace('{"decision"', '{ "decision"')],
    ['keys in another order', JSON.stringify({ rule: 'no-deletes', ...(JSON.parse(state()) as object) })],
  ])('%s: refused as invalid', async (_name, text) => {
    await withServer({ proxyAudit: 'network' }, async (s, c) => {
      await streamLogs(c, logMessages([entry(text)], 1), undefined);
      await new Promise((r) => setTimeout(r, 200));
      expect(s.auditRecords()).toHaveLength(0);
      expect(await s.metrics()).toContain('phiguard_proxy_audit_entries_total{result="invalid"} 1');
    });
  });

  test('network mode records any caller’s report, labelled network; a report the service would not make is recorded as made and counted divergent', async () => {
    await withServer({ proxyAudit: 'network' }, async (s, c) => {
      const forged = state({
        decision: 'allow',
        rule: 'read-formulary',
        reason: 'rule-allow',
        status: 200,
        decisionId: 'px-17f3a-2',
      });
      await streamLogs(c, logMessages([entry(state()), entry(forged)], 2), undefined);
      const rs = await recordsWhen(s, (x) => x.length >= 2);
      expect(rs.map((r) => [r['decisionId'], r['decision'], r['rule'], r['reportedBy'], r['decidedBy']])).toEqual([
        ['px-17f3a-1', 'deny', 'no-deletes', 'network', 'proxy'],
        ['px-17f3a-2', 'allow', 'read-formulary', 'network', 'proxy'],
      ]);
      const m = await s.metrics();
      expect(m).toContain('phiguard_proxy_audit_entries_total{result="recorded"} 1');
      expect(m).toContain('phiguard_proxy_audit_entries_total{result="recorded-divergent"} 1');
    });
  });

  test('a stream still open at shutdown: what it sent is recorded, and the service stops without waiting out the grace period', async () => {
    const s = await startTestServer(
      { fhirBase: FHIR_BASES, proxyAudit: 'network', shutdownGraceMs: 5000 },
      policyFiles(),
    );
    const c = new grpc.Client(s.addr, grpc.credentials.createInsecure());
    const ended = new Promise<grpc.ServiceError | null>((resolve) => {
      const call = c.makeClientStreamRequest(
        STREAM_PATH,
        (b: Buffer) => b,
        (b: Buffer) => b,
        new grpc.Metadata(),
        {},
        (e) => resolve(e),
      );
      for (const m of logMessages([entry(state())], 1)) call.write(m);
    });
    await recordsWhen(s, (rs) => rs.length >= 1);
    const t0 = Date.now();
    const auditFile = s.auditFile;
    await s.service.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await ended).toBeNull();
    const lines = readFileSync(auditFile, 'utf8').trim().split('\n');
    expect(lines.map((l) => (JSON.parse(l) as Record<string, unknown>)['decisionId'])).toEqual(['px-17f3a-1']);
    c.close();
    await s.stop();
  });

  test('the filter’s own deny (its Check call failed) is recorded as made, with the service’s reading of the request', async () => {
    await withServer({ proxyAudit: 'network' }, async (s, c) => {
      const own = state({
        rule: 'wasm-check-timeout',
        reason: 'internal-error',
        status: 403,
        agent: '',
        method: 'GET',
        path: '/fhir/Medication/m-1',
        decisionId: 'px-17f3a-3',
      });
      await streamLogs(c, logMessages([entry(own)], 1), undefined);
      const [r] = await recordsWhen(s, (x) => x.length >= 1);
      expect(r).toMatchObject({
        decisionId: 'px-17f3a-3',
        agent: 'formulary-bot',
        decision: 'deny',
        rule: 'wasm-check-timeout',
        reason: 'internal-error',
        status: 403,
        interaction: 'read',
        resourceType: 'Medication',
        decidedBy: 'proxy',
      });
      expect(await s.metrics()).toContain('phiguard_proxy_audit_entries_total{result="recorded"} 1');
    });
  });

  test('a policy rule named like the filter’s own is compared with the service like any other', async () => {
    await withServer({ proxyAudit: 'network' }, async (s, c) => {
      const named = state({ decision: 'allow', rule: 'wasm-check-timeout', reason: 'rule-allow', status: 200 });
      await streamLogs(c, logMessages([entry(named)], 1), undefined);
      await recordsWhen(s, (x) => x.length >= 1);
      expect(await s.metrics()).toContain('phiguard_proxy_audit_entries_total{result="recorded-divergent"} 1');
    });
  });

  test('without --proxy-audit the access-log service is not served', async () => {
    await withServer({}, async (_s, c) => {
      await expect(streamLogs(c, logMessages([entry(state())], 1), undefined)).rejects.toMatchObject({
        code: grpc.status.UNIMPLEMENTED,
      });
    });
  });
});

describe('xfccPeerUri', () => {
  test.each([
    ['one element, one URI', xfccOf(REPORTER), REPORTER],
    ['a quoted URI', `Hash=1;URI="${REPORTER}"`, REPORTER],
    ['a quoted value holding the separators', `Subject="CN=a,O=b;c";URI=${REPORTER}`, REPORTER],
    ['lower-case key', `uri=${REPORTER}`, REPORTER],
    ['no URI', 'By=spiffe://x;Hash=1', undefined],
    ['two elements', `URI=${REPORTER},URI=${REPORTER}`, undefined],
    ['two URIs', `URI=${REPORTER};URI=spiffe://a/b`, undefined],
    ['an unterminated quote', `URI="${REPORTER}`, undefined],
    ['a pair without =', `URI=${REPORTER};junk`, undefined],
    ['an empty URI', 'URI=', undefined],
    ['absent', undefined, undefined],
  ])('%s', (_name, header, want) => {
    expect(xfccPeerUri(header)).toBe(want);
  });
});
