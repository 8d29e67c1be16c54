/**
 * The proxy-wasm rules (IST009-IST014, ENV009-ENV014) beyond the one passing and one failing fixture of
 * rule-cases.ts: how a module is pinned, which filter is phiguard's, which Telemetry is in effect for the filtered
 * workload (Istio's workload, namespace, root and mesh-default precedence), which access log carries the decisions,
 * and whether the requests the program does not decide are Checked once.
 */
import { describe, expect, test } from '@jest/globals';
import { parseManifestText, runCheck } from '../../generator/check/index.js';
import {
  alsProvider,
  deferLine,
  envoyWasm,
  envoyWasmReordered,
  telemetry,
  wasmCluster,
  wasmPlugin,
} from './rule-cases.js';

const WASM_RULES = /^(IST009|IST01[0-4]|ENV009|ENV01[0-4])$/;

/** The proxy-wasm findings of a text, by rule id, sorted. */
function wasmFindings(text: string): string[] {
  const { docs, problems } = parseManifestText(text, 'fixture.yaml');
  expect(problems).toEqual([]);
  return runCheck(docs)
    .map((f) => f.code)
    .filter((c) => WASM_RULES.test(c))
    .sort();
}

const digest = 'cd'.repeat(32);
const plugin = (from: string | RegExp, to: string): string => wasmPlugin.replace(from, to);
const withoutSha = plugin(/ {2}sha256: .*\n/, '');
/** A WasmPlugin that is not phiguard's: no program, another module. */
const otherPlugin = wasmPlugin
  .replace('name: phiguard-filter', 'name: header-stats')
  .replace('https://registry.example/phiguard/filter.wasm', 'https://registry.example/stats.wasm')
  .replace(/ {2}pluginConfig: .*\n/, '  pluginConfig: { prefix: x }\n');
const telemetryIn = (namespace: string, body: string): string =>
  `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: { name: t, namespace: ${namespace} }\nspec:\n${body}`;
const logsTo = (provider: string, extra = ''): string =>
  `  accessLogging: [{ providers: [{ name: ${provider} }]${extra} }]\n`;

describe('Istio WasmPlugin', () => {
  test.each<[string, string, string[]]>([
    ['the shipped shape passes', wasmCluster(), []],
    [
      'FAIL_RELOAD fails closed for every error but a runtime one: accepted',
      wasmCluster(plugin('FAIL_CLOSE', 'FAIL_RELOAD')),
      [],
    ],
    ['failStrategy unset is FAIL_CLOSE', wasmCluster(plugin(/ {2}failStrategy: .*\n/, '')), []],
    [
      'an OCI url pinned by digest needs no sha256',
      wasmCluster(
        withoutSha.replace(
          'https://registry.example/phiguard/filter.wasm',
          `oci://registry.example/phiguard@sha256:${digest}`,
        ),
      ),
      [],
    ],
    [
      'an OCI tag without a digest or sha256 is unpinned',
      wasmCluster(
        withoutSha.replace('https://registry.example/phiguard/filter.wasm', 'oci://registry.example/phiguard:0.1.0'),
      ),
      ['IST010'],
    ],
    ['a sha256 that is not 64 lowercase hex digits', wasmCluster(plugin(/sha256: .*/, 'sha256: ABC')), ['IST010']],
    [
      'a sha256 that differs from the url digest',
      wasmCluster(
        plugin('https://registry.example/phiguard/filter.wasm', `oci://registry.example/phiguard@sha256:${digest}`),
      ),
      ['IST010'],
    ],
    [
      'another WasmPlugin: fail-open and unpinned apply, phase and audit do not',
      wasmCluster(
        otherPlugin
          .replace('FAIL_CLOSE', 'FAIL_OPEN')
          .replace('phase: AUTHZ', 'phase: STATS')
          .replace(/ {2}sha256: .*\n/, ''),
        '',
      ),
      ['IST009', 'IST010'],
    ],
    [
      "phiguard's filter recognized by its url when its program is missing",
      wasmCluster(plugin(/ {2}pluginConfig: .*\n/, '').replace('phase: AUTHZ', 'phase: AUTHN'), ''),
      ['IST011', 'IST012'],
    ],
    ['phase unset (before the router)', wasmCluster(plugin(/ {2}phase: .*\n/, '')), ['IST011']],
    ['no Telemetry', wasmCluster(wasmPlugin, ''), ['IST012']],
    [
      'a namespace-wide Telemetry in the plugin namespace',
      wasmCluster(wasmPlugin, telemetryIn('fhir', logsTo('phiguard-proxy-audit'))),
      [],
    ],
    [
      'a root-namespace Telemetry',
      wasmCluster(wasmPlugin, telemetryIn('istio-system', logsTo('phiguard-proxy-audit'))),
      [],
    ],
    [
      'a Telemetry in another namespace',
      wasmCluster(wasmPlugin, telemetryIn('scribe', logsTo('phiguard-proxy-audit'))),
      ['IST012'],
    ],
    [
      'a Telemetry selecting another workload',
      wasmCluster(wasmPlugin, telemetry().replace('app: fhir-server', 'app: billing')),
      ['IST012'],
    ],
    [
      'a workload Telemetry without the provider overrides a namespace one with it',
      wasmCluster(wasmPlugin, [telemetry('envoy'), telemetryIn('fhir', logsTo('phiguard-proxy-audit'))].join('---\n')),
      ['IST012'],
    ],
    [
      'outbound only (match mode CLIENT): the filter runs inbound',
      wasmCluster(wasmPlugin, telemetry().replace('mode: SERVER', 'mode: CLIENT')),
      ['IST012'],
    ],
    [
      'access logging disabled',
      wasmCluster(wasmPlugin, telemetryIn('fhir', logsTo('phiguard-proxy-audit', ', disabled: true'))),
      ['IST012'],
    ],
    [
      'a provider that does not log wasm.phiguard_decision',
      wasmCluster(wasmPlugin, telemetry(), alsProvider('[]')),
      ['IST012'],
    ],
    [
      'the provider among the mesh default access-log providers',
      wasmCluster(wasmPlugin, '', `${alsProvider()}  defaultProviders: { accessLogging: [phiguard-proxy-audit] }\n`),
      [],
    ],
    [
      'no mesh config among the inputs: any provider the Telemetry names is accepted',
      wasmCluster(wasmPlugin, telemetry('defined-elsewhere'), '').replace(/meshConfig:[\s\S]*?---\n/, ''),
      [],
    ],
    [
      'deferring to the next filter under a CUSTOM policy selecting exactly its workloads',
      wasmCluster().replace(
        'metadata: { name: fhir, namespace: fhir }\nspec: { action: CUSTOM,',
        'metadata: { name: fhir, namespace: fhir }\nspec: { selector: { matchLabels: { app: fhir-server } }, action: CUSTOM,',
      ),
      [],
    ],
    [
      'deferring to the next filter under a CUSTOM policy selecting another workload',
      wasmCluster().replace(
        'metadata: { name: fhir, namespace: fhir }\nspec: { action: CUSTOM,',
        'metadata: { name: fhir, namespace: fhir }\nspec: { selector: { matchLabels: { app: billing } }, action: CUSTOM,',
      ),
      ['IST013'],
    ],
    [
      'deferring to the next filter under a root-namespace CUSTOM policy without selector',
      wasmCluster().replace(
        'metadata: { name: fhir, namespace: fhir }',
        'metadata: { name: fhir, namespace: istio-system }',
      ),
      [],
    ],
    [
      'deferring to the next filter under a CUSTOM policy to another provider',
      wasmCluster().replace('provider: { name: phiguard }', 'provider: { name: opa }'),
      ['IST013'],
    ],
    [
      'Checking deferred requests itself with no CUSTOM policy on its workloads: checked once',
      wasmCluster(wasmPlugin.replace(deferLine, '')).replace(
        'metadata: { name: fhir, namespace: fhir }',
        'metadata: { name: fhir, namespace: billing }',
      ),
      [],
    ],
  ])('%s', (_name, text, expected) => {
    expect(wasmFindings(text)).toEqual(expected);
  });
});

describe('Envoy bootstrap wasm filter', () => {
  /** The program line as envoy/envoy-wasm.yaml spells it inside its JSON string. */
  const deferLineJson = '\\ndefer-to\\tnext-filter';
  const remote = (sha: string): string =>
    envoyWasm.replace(
      'local: { filename: /etc/envoy/wasm/phiguard-filter.wasm }',
      `remote: { http_uri: { uri: "https://registry.example/phiguard-filter.wasm", cluster: phiguard, timeout: 10s }${sha} }`,
    );
  /** envoy/envoy-wasm.yaml with the program replaced by a configuration that is not phiguard's and another module. */
  const other = envoyWasm
    .replace(/value: "phiguard-wasm-program.*"/, 'value: "{}"')
    .replace('/etc/envoy/wasm/phiguard-filter.wasm', '/etc/envoy/wasm/stats.wasm');
  test.each<[string, string, string[]]>([
    ['the shipped envoy/envoy-wasm.yaml passes', envoyWasm, []],
    [
      'failure_policy FAIL_OPEN (newer Envoy API)',
      envoyWasm.replace('fail_open: false', 'failure_policy: FAIL_OPEN'),
      ['ENV009'],
    ],
    ['failure_policy FAIL_RELOAD', envoyWasm.replace('fail_open: false', 'failure_policy: FAIL_RELOAD'), []],
    ['remote code with a sha256', remote(`, sha256: ${digest}`), []],
    ['remote code with a malformed sha256', remote(', sha256: "1234"'), ['ENV010']],
    [
      'the access log sends to a cluster that does not exist',
      envoyWasm.replace(
        'envoy_grpc: { cluster_name: phiguard }\n                        filter_state_objects_to_log',
        'envoy_grpc: { cluster_name: phiguard-als }\n                        filter_state_objects_to_log',
      ),
      ['ENV011'],
    ],
    ['another wasm filter needs no decision log', other.replace('[wasm.phiguard_decision]', '[]'), []],
    [
      "the program as pluginConfig JSON is recognized as phiguard's",
      other
        .replace('value: "{}"', 'value: "{\\"program\\": \\"phiguard-wasm-program\\\\t1\\\\nend\\\\n\\"}"')
        .replace('[wasm.phiguard_decision]', '[]'),
      ['ENV011', 'ENV014'],
    ],
    ['ext_authz before the filter still Checks what the filter defers', envoyWasmReordered([0, 2, 1, 3]), ['ENV012']],
    [
      'a program that Checks deferred requests itself, with ext_authz in the chain',
      envoyWasm.replace(deferLineJson, ''),
      ['ENV014'],
    ],
    [
      'a program that Checks deferred requests itself, with ext_authz disabled',
      envoyWasm
        .replace(deferLineJson, '')
        .replace(
          '                  - name: envoy.filters.http.ext_authz\n',
          '                  - name: envoy.filters.http.ext_authz\n                    disabled: true\n',
        ),
      [],
    ],
  ])('%s', (_name, text, expected) => {
    expect(wasmFindings(text)).toEqual(expected);
  });
});
