/**
 * envoy/envoy-wasm.yaml, the bootstrap with phiguard's proxy-wasm filter, checked against Envoy's protos and against
 * what the filter and its audit need: its place in the chain, fail closed, the program it is given (the generator's
 * own output for the example policies), the cluster that program calls, and the access log that carries its
 * decisions to phiguard. No Envoy runs here (docs/wasm.md, "What was validated").
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { readPolicyDir } from '../../authz/policy/index.js';
import { envoyTypes } from '../../generator/envoy/envoy-root.js';
import { validateProtoJson } from '../../generator/envoy/validate-proto-json.js';
import { buildWasmProgram, DEFAULT_DEFER_HEADERS } from '../../generator/wasm/index.js';
import { filterModule, SAN_PROPERTY } from '../wasm/filter-harness.js';
import { startHost } from '../wasm/proxy-wasm-host.js';

type Obj = Record<string, unknown>;
const BOOTSTRAP = 'envoy.config.bootstrap.v3.Bootstrap';
const text = readFileSync('envoy/envoy-wasm.yaml', 'utf8');
const bootstrap = yaml.load(text) as Obj;
const plain = yaml.load(readFileSync('envoy/envoy.yaml', 'utf8')) as Obj;

function at(o: unknown, ...keys: Array<string | number>): unknown {
  let cur: unknown = o;
  for (const k of keys) cur = (cur as Record<string | number, unknown> | undefined)?.[k];
  return cur;
}
const hcmOf = (b: Obj): Obj =>
  at(b, 'static_resources', 'listeners', 0, 'filter_chains', 0, 'filters', 0, 'typed_config') as Obj;
const hcm = hcmOf(bootstrap);
const filters = hcm['http_filters'] as Array<{ name: string; typed_config: Obj }>;
const wasm = filters.find((f) => f.name === 'envoy.filters.http.wasm')?.typed_config ?? {};
const clusters = at(bootstrap, 'static_resources', 'clusters') as Obj[];
const program = String(at(wasm, 'config', 'configuration', 'value'));

describe('envoy/envoy-wasm.yaml', () => {
  test('is a valid Bootstrap against the Envoy protos: no unknown field, every typed_config resolved', () => {
    expect(validateProtoJson(envoyTypes(), BOOTSTRAP, bootstrap)).toEqual([]);
  });

  test('jwt_authn, then the wasm filter, then ext_authz (body and jwt_authn payload), then the router', () => {
    expect(filters.map((f) => f.name)).toEqual([
      'envoy.filters.http.jwt_authn',
      'envoy.filters.http.wasm',
      'envoy.filters.http.ext_authz',
      'envoy.filters.http.router',
    ]);
    expect(wasm['@type']).toBe('type.googleapis.com/envoy.extensions.filters.http.wasm.v3.Wasm');
  });

  test('everything but the filter and its access log is envoy/envoy.yaml', () => {
    const strip = (b: Obj): Obj => {
      const c = structuredClone(b);
      const h = hcmOf(c);
      h['http_filters'] = (h['http_filters'] as Obj[]).filter((f) => f['name'] !== 'envoy.filters.http.wasm');
      h['access_log'] = (h['access_log'] as Obj[]).filter((l) => l['name'] !== 'envoy.access_loggers.http_grpc');
      return c;
    };
    expect(strip(bootstrap)).toEqual(plain);
  });

  test('the filter fails closed and runs the module in V8', () => {
    expect(at(wasm, 'config')).toMatchObject({
      fail_open: false,
      vm_config: { runtime: 'envoy.wasm.runtime.v8', code: { local: { filename: expect.any(String) } } },
    });
    expect(at(wasm, 'config', 'configuration', '@type')).toBe('type.googleapis.com/google.protobuf.StringValue');
  });

  test('the program is the generator output for the example policies, deferring to ext_authz', async () => {
    const loaded = readPolicyDir('examples/policies');
    if (!loaded.ok) throw new Error(loaded.error.message);
    const built = await buildWasmProgram(loaded.value.set, {
      fhirBasePaths: ['/fhir'],
      authzCluster: 'phiguard',
      timeoutMs: 200,
      allowInProxy: false,
      hosts: [],
      deferHeaders: [...DEFAULT_DEFER_HEADERS],
      deferTo: 'next-filter',
    });
    expect(program).toBe(built.text);
    expect(program.split('\n')).toContain('defer-to\tnext-filter');
    const authz = program
      .split('\n')
      .find((l) => l.startsWith('authz\t'))
      ?.split('\t');
    expect(authz?.[1]).toBe('phiguard');
    const cluster = clusters.find((c) => c['name'] === authz?.[1]);
    expect(
      at(cluster, 'typed_extension_protocol_options', 'envoy.extensions.upstreams.http.v3.HttpProtocolOptions'),
    ).toMatchObject({ explicit_http_config: { http2_protocol_options: {} } });
  });

  test('the filter built from wasm/assembly configures with it (test host): denies in the proxy, hands the rest on', async () => {
    const host = await startHost(filterModule(), { pluginConfiguration: program });
    expect(host.configured).toBe(true);
    const agent = { [SAN_PROPERTY]: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor' };
    const line = (path: string): Array<[string, string]> => [
      [':method', 'GET'],
      [':path', path],
      [':authority', 'fhir.hospital.internal'],
    ];
    const invalid = host.request(line('/fhir/Patient/../Observation'), agent);
    host.finish(invalid);
    expect(invalid.localResponse?.status).toBe(400);
    expect(JSON.parse(invalid.filterState.get('wasm.phiguard_decision') ?? '{}')).toMatchObject({ decision: 'deny' });
    const deferred = host.request([...line('/fhir/Patient/p1'), ['authorization', 'Bearer x']], agent);
    host.finish(deferred);
    expect([deferred.action, deferred.localResponse, host.grpcCalls.size]).toEqual([0, undefined, 0]);
    expect(deferred.filterState.has('wasm.phiguard_decision')).toBe(false);
  });

  test('an http_grpc access log carries wasm.phiguard_decision to the phiguard cluster, flushed every 0.2 s', () => {
    const logs = hcm['access_log'] as Array<{ name: string; typed_config: Obj }>;
    const als = logs.find((l) => l.name === 'envoy.access_loggers.http_grpc')?.typed_config;
    expect(als?.['@type']).toBe('type.googleapis.com/envoy.extensions.access_loggers.grpc.v3.HttpGrpcAccessLogConfig');
    expect(als?.['common_config']).toEqual({
      log_name: 'phiguard-proxy-decisions',
      transport_api_version: 'V3',
      grpc_service: { envoy_grpc: { cluster_name: 'phiguard' } },
      filter_state_objects_to_log: ['wasm.phiguard_decision'],
      buffer_flush_interval: '0.2s',
      buffer_size_bytes: 16384,
    });
  });

  // Negative controls: the proto check rejects a broken wasm filter, as Envoy would.
  test.each<[string, (c: Obj) => void, RegExp]>([
    [
      'a misspelled PluginConfig field',
      (c) => {
        (c['config'] as Obj)['fail_opn'] = false;
      },
      /unknown field "fail_opn"/,
    ],
    [
      'two code sources of the oneof',
      (c) => {
        ((c['config'] as Obj)['vm_config'] as Obj)['code'] = {
          local: { filename: '/x.wasm' },
          remote: { http_uri: { uri: 'https://x', cluster: 'phiguard', timeout: '1s' }, sha256: 'ab' },
        };
      },
      /same oneof/,
    ],
  ])('rejects %s', (_name, mutate, message) => {
    const b = structuredClone(bootstrap);
    const f = (hcmOf(b)['http_filters'] as Obj[]).find((x) => x['name'] === 'envoy.filters.http.wasm');
    mutate(f?.['typed_config'] as Obj);
    const findings = validateProtoJson(envoyTypes(), BOOTSTRAP, b).filter((x) => x.severity === 'error');
    expect(findings.map((x) => x.message).join('\n')).toMatch(message);
  });
});
