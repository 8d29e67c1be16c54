/**
 * The filter module against Envoy's ABI 0.2.1 host table, and the test host's Envoy behaviours as the filter meets
 * them: configuration failure, NUL-separated property paths, first-of-duplicate headers, the gRPC call-out and its
 * failures.
 */
import { beforeAll, describe, expect, test } from '@jest/globals';
import type { CompiledPolicySet } from '../../authz/index.js';
import { abiMismatches, readModuleSignatures, startHost, type ProxyWasmHost } from './proxy-wasm-host.js';
import { filterStateText, ProxyDecisionSchema } from '../../authz/service/proxy-audit.js';
import { examplePolicies, filterModule, hostFor, programFor, runFilter, SAN_PROPERTY } from './filter-harness.js';
import { checkResponse } from './wire.js';

const CDS = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
const HOSTILE = { method: 'GET', path: '/fhir/Observation/%2e%2e/Patient', principal: CDS, headers: {} };
const SEARCH = { method: 'GET', path: '/fhir/Observation?patient=p-1', principal: CDS, headers: {} };
const host = 'fhir.hospital.internal';

/** A module of only these function imports and exports (core spec binary format), to test the import check. */
function moduleWith(
  imports: Array<{ name: string; params: number; i64At?: number; result: boolean; module?: string }>,
  exportNames: string[] = [],
): Uint8Array {
  const leb = (n: number): number[] => {
    const out: number[] = [];
    do {
      let b = n & 0x7f;
      n >>>= 7;
      if (n !== 0) b |= 0x80;
      out.push(b);
    } while (n !== 0);
    return out;
  };
  const name = (s: string): number[] => [...leb(Buffer.byteLength(s)), ...Buffer.from(s)];
  const section = (id: number, body: number[]): number[] => [id, ...leb(body.length), ...body];
  const types = imports.map((i) => [
    0x60,
    ...leb(i.params),
    ...Array.from({ length: i.params }, (_, k) => (k === i.i64At ? 0x7e : 0x7f)),
    ...(i.result ? [1, 0x7f] : [0]),
  ]);
  // One local function of type () -> () for the exports: type index = imports.length.
  const allTypes = [...types, [0x60, 0, 0]];
  const typeSec = section(1, [...leb(allTypes.length), ...allTypes.flat()]);
  const importSec = section(2, [
    ...leb(imports.length),
    ...imports.flatMap((i, k) => [...name(i.module ?? 'env'), ...name(i.name), 0, ...leb(k)]),
  ]);
  const funcSec = section(3, [1, ...leb(imports.length)]);
  const exportSec = section(7, [
    ...leb(exportNames.length),
    ...exportNames.flatMap((n) => [...name(n), 0, ...leb(imports.length)]),
  ]);
  const codeSec = section(10, [1, 2, 0, 0x0b]);
  return new Uint8Array([
    0,
    0x61,
    0x73,
    0x6d,
    1,
    0,
    0,
    0,
    ...typeSec,
    ...importSec,
    ...funcSec,
    ...exportSec,
    ...codeSec,
  ]);
}

describe('the module against Envoy’s host table', () => {
  test('every import of the filter is an env.proxy_* function Envoy registers, with its signature', () => {
    const bytes = filterModule();
    expect(abiMismatches(bytes)).toEqual([]);
    const imports = readModuleSignatures(bytes).imports;
    expect(imports.length).toBeGreaterThan(5);
    expect(imports.every((i) => i.module === 'env' && i.name.startsWith('proxy_'))).toBe(true);
    expect(imports.map((i) => i.name)).not.toContain('abort');
    expect(imports.find((i) => i.name === 'proxy_grpc_call')?.signature?.params).toHaveLength(12);
  });

  test.each([
    [
      'env.abort (AssemblyScript without --use abort=)',
      [{ name: 'abort', params: 4, result: false }],
      'env.abort: not provided',
    ],
    [
      'proxy_grpc_call with 10 parameters',
      [{ name: 'proxy_grpc_call', params: 10, result: true }],
      'proxy_grpc_call: signature',
    ],
    ['proxy_log without a result', [{ name: 'proxy_log', params: 3, result: false }], 'proxy_log: signature'],
    [
      'a WASI import Envoy gives under another module',
      [{ name: 'fd_write', params: 4, result: true, module: 'wasi' }],
      'wasi.fd_write: not provided',
    ],
  ])('refuses a module with %s', async (_name, imports, problem) => {
    const m = moduleWith(imports, ['proxy_abi_version_0_2_1', 'proxy_on_memory_allocate']);
    expect(abiMismatches(m).join('\n')).toContain(problem);
    await expect(startHost(m, { pluginConfiguration: '' })).rejects.toThrow('Envoy would refuse this module');
  });

  test('flags a callback Envoy never calls (proxy_on_grpc_trailing_metadata) and a module without the ABI marker', () => {
    const m = moduleWith([], ['proxy_on_memory_allocate', 'proxy_on_grpc_trailing_metadata']);
    expect(abiMismatches(m)).toEqual([
      'no proxy_abi_version_0_2_1 export',
      'export proxy_on_memory_allocate: signature :, host calls i32:i32',
      'export proxy_on_grpc_trailing_metadata: the host never calls it',
    ]);
  });
});

describe('configuration', () => {
  let program: string;
  beforeAll(async () => {
    program = await programFor(examplePolicies(), false);
  }, 120_000);

  test.each([
    ['empty', () => ''],
    ['another format', () => program.replace('phiguard-wasm-program\t1', 'phiguard-wasm-program\t2')],
    ['truncated (no end line)', () => program.slice(0, program.indexOf('\nend'))],
    ['with an unknown line', () => program.replace('\nend', '\nallow-everything\nend')],
    [
      'with a cell naming a verdict that does not exist',
      () => program.replace(/(cell\t0\tGET\tinvalid\t\*\t)\d+/, '$1999999'),
    ],
    ['with text after the end', () => `${program}cell\t0\tGET\tread\t*\t0\n`],
    ['without the policy version', () => program.replace(/\npolicy\t[^\n]*/, '')],
    ['with an ALLOW for an invalid request line', () => program.replaceAll('\nverdict\tdeny\t', '\nverdict\tallow\t')],
  ])('a program that is %s fails the configuration and every request is denied', async (_name, text) => {
    const h = await hostFor(text());
    expect(h.configured).toBe(false);
    const a = runFilter(h, { ...SEARCH, host });
    expect(a).toMatchObject({ kind: 'deny', status: 403, rule: 'wasm-not-configured' });
  });

  test('the generated program configures', async () => {
    expect((await hostFor(program)).configured).toBe(true);
  });

  test('the program inside an Istio pluginConfig ({"program": ...} as JSON) configures and decides alike', async () => {
    const wrapped = await hostFor(JSON.stringify({ program }, null, 1));
    expect(wrapped.configured).toBe(true);
    const plain = await hostFor(program);
    for (const r of [HOSTILE, { ...HOSTILE, path: '/fhir/_history' }]) {
      const a = runFilter(wrapped, { ...r, host });
      const b = runFilter(plain, { ...r, host });
      expect(a.kind).toBe('deny');
      // Each VM numbers its own decisions: the bodies are alike but for the decision id.
      const id = a.kind === 'deny' ? a.decisionId : '';
      expect(a).toMatchObject({
        kind: b.kind,
        ...(b.kind === 'deny' ? { status: b.status, rule: b.rule, body: b.body.split(b.decisionId).join(id) } : {}),
      });
    }
  });

  test.each([
    ['another key', () => JSON.stringify({ programme: program })],
    ['a second key', () => JSON.stringify({ program, extra: 1 })],
    ['a program that is not a string', () => JSON.stringify({ program: [program] })],
    ['an unterminated string', () => JSON.stringify({ program }).slice(0, -2)],
    ['an escape JSON does not have', () => JSON.stringify({ program }).replace('phiguard', 'phigu\\x61rd')],
  ])('a pluginConfig with %s fails the configuration', async (_name, text) => {
    expect((await hostFor(text())).configured).toBe(false);
  });

  test('a pluginConfig with \\u escapes decodes them', async () => {
    const escaped = JSON.stringify({ program }).replace('phiguard', 'phigu\\u0061rd');
    expect(escaped).toContain('phigu\\u0061rd');
    expect((await hostFor(escaped)).configured).toBe(true);
  });
});

describe('the host’s Envoy behaviours, as the filter meets them', () => {
  let set: CompiledPolicySet;
  let h: ProxyWasmHost;
  beforeAll(async () => {
    set = examplePolicies();
    h = await hostFor(await programFor(set, false));
  }, 120_000);

  test('the peer principal is read at the NUL-separated path; a dotted path finds nothing and the request defers', () => {
    const s1 = h.request(
      [
        [':method', 'GET'],
        [':path', HOSTILE.path],
        [':authority', host],
      ],
      { [SAN_PROPERTY]: CDS },
    );
    expect(s1.localResponse?.status).toBe(400);
    h.finish(s1);
    const before = h.grpcCalls.size;
    const s2 = h.request(
      [
        [':method', 'GET'],
        [':path', HOSTILE.path],
        [':authority', host],
      ],
      { 'connection.uri_san_peer_certificate': CDS },
    );
    expect(s2.localResponse).toBeUndefined();
    expect(h.grpcCalls.size).toBe(before + 1);
    const call = [...h.grpcCalls.values()].at(-1);
    expect(Buffer.from(call?.message ?? []).includes(CDS)).toBe(false);
    if (call) h.failGrpc(call.token, 14);
    h.finish(s2);
  });

  test('a duplicated header counts by its first value (the request id is the first x-request-id)', () => {
    const run = () =>
      h.request(
        [
          [':method', 'GET'],
          [':path', HOSTILE.path],
          [':authority', host],
          ['x-request-id', 'first-1'],
          ['x-request-id', 'second-2'],
        ],
        { [SAN_PROPERTY]: CDS },
      );
    const s = run();
    const state = JSON.parse(s.filterState.get('wasm.phiguard_decision') ?? '{}') as Record<string, unknown>;
    expect(state).toEqual({
      decision: 'deny',
      rule: 'default-deny',
      reason: 'invalid-request',
      status: 400,
      agent: 'cds-sepsis',
      principal: CDS,
      method: 'GET',
      path: '/fhir/Observation/%2e%2e/Patient',
      authority: host,
      policyVersion: set.version,
      decisionId: expect.stringMatching(/^px-[0-9a-f]{1,16}-[0-9a-f]{1,16}$/),
      requestId: 'first-1',
    });
    expect(s.localResponse?.headers).toContainEqual(['x-phiguard-decision-id', state['decisionId']]);
    h.finish(s);
    // The caller chooses x-request-id; the decision id is the filter's own: the same request id twice, two ids.
    const again = run();
    const next = JSON.parse(again.filterState.get('wasm.phiguard_decision') ?? '{}') as Record<string, unknown>;
    expect(next['requestId']).toBe('first-1');
    expect(next['decisionId']).not.toBe(state['decisionId']);
    h.finish(again);
  });

  test('the filter’s own deny of any request is one the receiver records (fields within its limits)', () => {
    const before = new Set(h.grpcCalls.keys());
    const s = h.request(
      [
        [':method', 'G'.repeat(70)],
        [':path', '/fhir/Patient/p-1'],
        [':authority', 'a'.repeat(1100)],
        ['x-request-id', 'r'.repeat(300)],
      ],
      { [SAN_PROPERTY]: `spiffe://cluster.local/ns/x/sa/${'y'.repeat(2100)}` },
    );
    for (const t of [...h.grpcCalls.keys()].filter((k) => !before.has(k))) h.failGrpc(t, 4);
    const text = s.filterState.get('wasm.phiguard_decision') ?? '';
    const parsed = ProxyDecisionSchema.parse(JSON.parse(text));
    expect(parsed).toMatchObject({ rule: 'wasm-check-timeout', decision: 'deny', status: 403 });
    expect([parsed.method.length, parsed.authority.length, parsed.principal.length, parsed.requestId.length]).toEqual([
      64, 1024, 2048, 256,
    ]);
    expect(filterStateText(parsed)).toBe(text);
    h.finish(s);
  });

  test('a request whose headers do not end the stream (a body follows) is deferred; an invalid one is still denied', () => {
    const headers = (path: string): Array<[string, string]> => [
      [':method', 'GET'],
      [':path', path],
      [':authority', host],
    ];
    const before = new Set(h.grpcCalls.keys());
    const withBody = h.request(headers('/fhir/_history'), { [SAN_PROPERTY]: CDS }, false);
    expect(withBody.localResponse).toBeUndefined();
    const calls = [...h.grpcCalls.keys()].filter((t) => !before.has(t));
    expect(calls).toHaveLength(1);
    for (const token of calls) h.failGrpc(token, 14);
    h.finish(withBody);
    const invalid = h.request(headers(HOSTILE.path), { [SAN_PROPERTY]: CDS }, false);
    expect(invalid.localResponse?.status).toBe(400);
    h.finish(invalid);
  });

  test('a deferred request calls envoy.service.auth.v3.Authorization/Check on the configured cluster with its deadline', () => {
    const a = runFilter(h, { ...SEARCH, host });
    expect(a.kind).toBe('defer');
    if (a.kind !== 'defer') return;
    const call = h.grpcCalls.get(a.token);
    expect(call).toMatchObject({ serviceName: 'envoy.service.auth.v3.Authorization', method: 'Check', timeoutMs: 200 });
    // GrpcService { envoy_grpc (1) { cluster_name (1) } }
    const cluster = 'outbound|9191||phiguard.phiguard.svc.cluster.local';
    expect(
      Buffer.from(call?.service ?? []).equals(
        Buffer.from([0x0a, cluster.length + 2, 0x0a, cluster.length, ...Buffer.from(cluster)]),
      ),
    ).toBe(true);
    for (const part of [CDS, 'GET', SEARCH.path, host])
      expect(Buffer.from(call?.message ?? []).includes(part)).toBe(true);
    h.completeGrpc(a.token, checkResponse({ code: 0, headers: [['x-phiguard-decision', 'allow']] }));
    expect(a.stream.continued).toBe(true);
    expect(a.stream.headers).toContainEqual(['x-phiguard-decision', 'allow']);
    h.finish(a.stream);
  });

  test.each([
    ['a timed-out call (DEADLINE_EXCEEDED)', (x: ProxyWasmHost, t: number) => x.failGrpc(t, 4), 'wasm-check-timeout'],
    [
      'an unreachable service (UNAVAILABLE)',
      (x: ProxyWasmHost, t: number) => x.failGrpc(t, 14),
      'wasm-check-call-failed',
    ],
    [
      'an answer that is not a CheckResponse',
      (x: ProxyWasmHost, t: number) => x.completeGrpc(t, new Uint8Array([0xff, 0xff, 0xff])),
      'wasm-check-unreadable',
    ],
    [
      'an empty answer',
      (x: ProxyWasmHost, t: number) => x.completeGrpc(t, new Uint8Array([])),
      'wasm-check-unreadable',
    ],
  ])('%s denies', (_name, end, rule) => {
    const a = runFilter(h, { ...SEARCH, host });
    if (a.kind !== 'defer') throw new Error('expected a deferred request');
    end(h, a.token);
    expect(a.stream.continued).toBe(false);
    expect(a.stream.localResponse?.status).toBe(403);
    expect(JSON.parse(a.stream.filterState.get('wasm.phiguard_decision') ?? '{}')).toMatchObject({
      decision: 'deny',
      rule,
    });
    h.finish(a.stream);
  });

  test('the service’s deny is sent as it gave it', () => {
    const a = runFilter(h, { ...SEARCH, host });
    if (a.kind !== 'defer') throw new Error('expected a deferred request');
    h.completeGrpc(a.token, checkResponse({ code: 7, status: 451, body: '{"resourceType":"OperationOutcome"}' }));
    expect(a.stream.localResponse).toMatchObject({ status: 451, body: '{"resourceType":"OperationOutcome"}' });
    expect(a.stream.continued).toBe(false);
    h.finish(a.stream);
  });

  test('a cluster the host refuses denies at once', async () => {
    const refusing = await hostFor(await programFor(set, false), true);
    const a = runFilter(refusing, { ...SEARCH, host });
    expect(a).toMatchObject({ kind: 'deny', status: 403, rule: 'wasm-check-call-failed' });
  });
});
