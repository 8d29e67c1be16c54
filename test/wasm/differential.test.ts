/**
 * The filter answers DEFER or exactly what the service answers (`phiguard explain`: decision, status, rule and the
 * OperationOutcome body), over the FHIR request-model table, the example CheckRequests and a generated corpus, for
 * the example policies, with in-proxy ALLOW off (the default) and on.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { beforeAll, describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  CheckInputSchema,
  ClaimsConfigSchema,
  createClaimsResolver,
  type CheckInput,
  type CompiledPolicySet,
  type Decision,
} from '../../authz/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { operationOutcome } from '../../authz/transport/index.js';
import { explain, type ExplainRequest } from '../../generator/explain/index.js';
import type { ProxyWasmHost } from './proxy-wasm-host.js';
import { examplePolicies, FHIR_BASES, hostFor, programFor, runFilter, serviceDecision } from './filter-harness.js';

const CaseSchema = z.object({
  name: z.string(),
  request: z.object({
    method: z.string(),
    path: z.string(),
    headers: z.record(z.string(), z.string()).default({}),
    body: z.string().optional(),
    host: z.string().optional(),
  }),
});

const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const PRINCIPALS = [
  CDS,
  'spiffe://cluster.local/ns/prior-auth/sa/pa-bot',
  'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
  'spiffe://cluster.local/ns/cds/sa/other',
  '',
];
const HOSTS = ['fhir.hospital.internal', 'fhir-server.fhir.svc.cluster.local:8080', 'fhir.local', 'evil.example'];

function requestModelCases(): ExplainRequest[] {
  const cases = z.array(CaseSchema).parse(yaml.load(readFileSync('test/fhir/request-model.cases.yaml', 'utf8')));
  return cases.flatMap((c) =>
    PRINCIPALS.slice(0, 3).map((principal) => ({
      method: c.request.method,
      path: c.request.path,
      principal,
      headers: c.request.headers,
      host: c.request.host ?? 'fhir.hospital.internal',
      ...(c.request.body !== undefined ? { body: c.request.body } : {}),
    })),
  );
}

/** Request lines of every shape the filter keys, hostile ones, and ones it must defer. */
function generatedCorpus(): ExplainRequest[] {
  const paths = [
    '/fhir/Patient/p-1',
    '/fhir/Medication/m-1',
    '/fhir/Observation/o-1',
    '/fhir/Observation/o-1/_history/2',
    '/fhir/Observation/o-1/_history',
    '/fhir/Observation/_history',
    '/fhir/Observation',
    '/fhir/Condition',
    '/fhir/RiskAssessment',
    '/fhir',
    '/fhir/metadata',
    '/fhir/_history',
    '/fhir/Patient/p-1/Observation',
    '/fhir/Patient/p-1/*',
    '/fhir/Encounter/e-1/Condition',
    '/fhir/R4/Patient/p-1',
    '/fhir/Observation?patient=p-1&category=vital-signs',
    '/fhir/Observation?',
    '/fhir/Observation/%2e%2e/Patient',
    '/fhir/Observation/..',
    '/fhir/Observation/.',
    '/fhir//Patient',
    '/fhir/Patient%2Fp-1',
    '/fhir/Patient%5cp-1',
    '/fhir/Patient/p-1#frag',
    'fhir/Patient/p-1',
    '/fhir/Patient/p 1',
    '/fhir/Patient/%zz',
    '/fhir/Patient/%e2%82%ac',
    '/fhir/observation/o-1',
    '/fhir/Nope/1',
    '/fhir/Patient/$everything',
    '/fhir/Patient/$bad!',
    '/fhir/Patient/p-1/$everything',
    '/fhir/Observation/o-1/Patient',
    '/fhir/Patient/p-1/_history/v%201',
    '/fhir/Patient/' + 'x'.repeat(65),
    '/fhir/a/b/c/d/e',
    '/fhir/Patient/p-1/Observation/_search',
    '/other/path',
    '/fhir/Patient/p-1\u0001',
  ];
  const methods = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS', 'get'];
  const out: ExplainRequest[] = [];
  for (const principal of PRINCIPALS)
    for (const host of HOSTS)
      for (const method of methods) for (const p of paths) out.push({ method, path: p, principal, headers: {}, host });
  // Headers that change what the service sees: the filter must defer them (or decide the same).
  for (const headers of [
    { authorization: 'Bearer x' },
    { 'x-http-method-override': 'DELETE' },
    { 'content-type': 'application/fhir+json' },
    { 'if-none-exist': 'identifier=x' },
  ])
    for (const p of paths.slice(0, 12))
      out.push({ method: 'GET', path: p, principal: CDS, headers, host: 'fhir.hospital.internal' });
  return out;
}

function exampleCheckRequests(): Array<[string, CheckInput]> {
  const dir = 'examples/requests';
  return readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .map((f) => [f, CheckInputSchema.parse(JSON.parse(readFileSync(path.join(dir, f), 'utf8')))]);
}

function explainRequestOf(input: CheckInput): ExplainRequest {
  const http = input.attributes.request?.http ?? {};
  const headers = Object.fromEntries(Object.entries(http.headers ?? {}).filter(([k]) => !k.startsWith(':')));
  return {
    method: http.method ?? '',
    path: http.path ?? '',
    principal: input.attributes.source?.principal ?? '',
    headers,
    host: http.host ?? 'fhir.local',
    ...(http.body !== undefined ? { body: http.body } : {}),
  };
}

interface Tally {
  decided: number;
  deferred: number;
}

/** Asserts the filter's answer is DEFER or the service's; returns which. */
function compare(host: ProxyWasmHost, r: ExplainRequest, service: Decision, tally: Tally): void {
  const a = runFilter(host, r);
  if (a.kind === 'defer') {
    tally.deferred++;
    host.failGrpc(a.token, 14);
    host.finish(a.stream);
    return;
  }
  tally.decided++;
  const label = `${r.method} ${JSON.stringify(r.path)} from ${r.principal || '(none)'} to ${r.host ?? ''}`;
  if (a.kind === 'allow') {
    expect({ label, outcome: 'allow', rule: a.rule }).toEqual({ label, outcome: service.outcome, rule: service.rule });
    return;
  }
  expect({ label, outcome: 'deny', status: a.status, rule: a.rule }).toEqual({
    label,
    outcome: service.outcome,
    status: service.status,
    rule: service.rule,
  });
  expect(a.body).toBe(operationOutcome(service, a.decisionId));
}

describe.each([
  ['deny only (default)', false],
  ['with --allow-in-proxy', true],
])('filter vs phiguard explain, example policies, %s', (_name, allowInProxy) => {
  let set: CompiledPolicySet;
  let host: ProxyWasmHost;
  beforeAll(async () => {
    set = examplePolicies();
    host = await hostFor(await programFor(set, allowInProxy));
    expect(host.configured).toBe(true);
  }, 120_000);

  test('the request-model table', async () => {
    const tally: Tally = { decided: 0, deferred: 0 };
    for (const r of requestModelCases()) compare(host, r, await serviceDecision(set, r), tally);
    expect(tally.decided).toBeGreaterThan(10);
  });

  test('the example CheckRequests (with their jwt_authn claims on the service side)', async () => {
    const tally: Tally = { decided: 0, deferred: 0 };
    const claims = createClaimsResolver(ClaimsConfigSchema.parse({}));
    for (const [, input] of exampleCheckRequests()) {
      const service = (await explain(input, set, claims, FHIR_BASES)).decision;
      compare(host, explainRequestOf(input), service, tally);
    }
    // hostile-dot-segment.json is decided in the proxy.
    expect(tally.decided).toBeGreaterThanOrEqual(1);
  });

  test('a generated corpus of shapes, hostile paths, hosts and principals', async () => {
    const tally: Tally = { decided: 0, deferred: 0 };
    for (const r of generatedCorpus()) compare(host, r, await serviceDecision(set, r), tally);
    expect(tally.decided).toBeGreaterThan(400);
    expect(tally.deferred).toBeGreaterThan(500);
    expect(host.openStreams()).toBe(0);
  }, 120_000);
});

describe('filter vs phiguard explain, an agent whose rules the proxy sees', () => {
  const PRINCIPAL = 'spiffe://cluster.local/ns/pharmacy/sa/formulary-bot';
  test.each([
    ['deny only (default)', false],
    ['with --allow-in-proxy', true],
  ])(
    '%s',
    async (_name, allowInProxy) => {
      const loaded = readPolicyDir('test/wasm/fixtures/policies');
      if (!loaded.ok) throw loaded.error;
      const set = loaded.value.set;
      const host = await hostFor(await programFor(set, allowInProxy));
      const tally: Tally = { decided: 0, deferred: 0 };
      const kinds = new Set<string>();
      for (const r of generatedCorpus()) {
        const req = { ...r, principal: r.principal === CDS ? PRINCIPAL : r.principal };
        const service = await serviceDecision(set, req);
        const before = tally.decided;
        compare(host, req, service, tally);
        if (tally.decided > before) kinds.add(`${service.outcome}:${service.rule}`);
      }
      // Hosts the rules do not name are deferred (the protected-endpoint and egress lanes read them): the host rule
      // never decides in the proxy.
      expect([...kinds].sort()).toEqual(
        allowInProxy
          ? ['allow:capabilities', 'allow:read-formulary', 'deny:default-deny', 'deny:no-deletes']
          : ['deny:default-deny', 'deny:no-deletes'],
      );
    },
    120_000,
  );
});
