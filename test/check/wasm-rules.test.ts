/**
 * The proxy-wasm rules (IST009-IST015, ENV009-ENV015) beyond the one passing and one failing fixture of
 * rule-cases.ts: how a module is pinned, which filter is phiguard's, where it runs relative to a CUSTOM policy's
 * ext_authz (Istio inserts that before every WasmPlugin), which Telemetry is in effect for the filtered workload
 * (Istio's workload, namespace, root and mesh-default precedence), which access log carries the decisions and whether
 * a filter drops some, whether the requests the program does not decide are Checked once, and whether phiguard runs
 * the receiver and accepts the filtering workload.
 */
import { describe, expect, test } from '@jest/globals';
import { parseManifestText, runCheck, type CheckFinding } from '../../generator/check/index.js';
import {
  alsProvider,
  base,
  deferLine,
  envoyWasm,
  envoyWasmReordered,
  phiguardServe,
  telemetry,
  wasmCluster,
  wasmPlugin,
} from './rule-cases.js';

const WASM_RULES = /^(IST009|IST01[0-5]|ENV009|ENV01[0-5])$/;

/** The proxy-wasm findings of a text. */
function wasmFindingsOf(text: string): CheckFinding[] {
  const { docs, problems } = parseManifestText(text, 'fixture.yaml');
  expect(problems).toEqual([]);
  return runCheck(docs).filter((f) => WASM_RULES.test(f.code));
}
/** The proxy-wasm findings of a text, by rule id, sorted. */
const wasmFindings = (text: string): string[] =>
  wasmFindingsOf(text)
    .map((f) => f.code)
    .sort();

const digest = 'cd'.repeat(32);
const plugin = (from: string | RegExp, to: string): string => wasmPlugin.replace(from, to);
const withoutSha = plugin(/ {2}sha256: .*\n/, '');
/** A WasmPlugin that is not phiguard's: no program, another module. */
const otherPlugin = wasmPlugin
  .replace('name: phiguard-filter', 'name: header-stats')
  .replace('https://registry.example/phiguard/filter.wasm', 'https://registry.example/stats.wasm')
  .replace(/ {2}pluginConfig: .*\n/, '  pluginConfig: { prefix: x }\n');
/** A program that Checks deferred requests itself (`--defer-to callout`). */
const callout = wasmPlugin.replace(deferLine, '');
/** The example cluster with its CUSTOM policy moved off the plugin's namespace. */
const noCustom = (plugin: string): string =>
  wasmCluster(plugin).replace(
    'metadata: { name: fhir, namespace: fhir }',
    'metadata: { name: fhir, namespace: billing }',
  );
const telemetryIn = (namespace: string, body: string): string =>
  `apiVersion: telemetry.istio.io/v1\nkind: Telemetry\nmetadata: { name: t, namespace: ${namespace} }\nspec:\n${body}`;
const logsTo = (provider: string, extra = ''): string =>
  `  accessLogging: [{ providers: [{ name: ${provider} }]${extra} }]\n`;

describe('Istio WasmPlugin', () => {
  test.each<[string, string, string[]]>([
    ['the shipped shape passes', wasmCluster(), ['IST011']],
    [
      'FAIL_RELOAD fails closed for every error but a runtime one: accepted',
      wasmCluster(plugin('FAIL_CLOSE', 'FAIL_RELOAD')),
      ['IST011'],
    ],
    ['failStrategy unset is FAIL_CLOSE', wasmCluster(plugin(/ {2}failStrategy: .*\n/, '')), ['IST011']],
    [
      'an OCI url pinned by digest needs no sha256',
      wasmCluster(
        withoutSha.replace(
          'https://registry.example/phiguard/filter.wasm',
          `oci://registry.example/phiguard@sha256:${digest}`,
        ),
      ),
      ['IST011'],
    ],
    [
      'an OCI tag without a digest or sha256 is unpinned',
      wasmCluster(
        withoutSha.replace('https://registry.example/phiguard/filter.wasm', 'oci://registry.example/phiguard:0.1.0'),
      ),
      ['IST010', 'IST011'],
    ],
    [
      'a sha256 that is not 64 lowercase hex digits',
      wasmCluster(plugin(/sha256: .*/, 'sha256: ABC')),
      ['IST010', 'IST011'],
    ],
    [
      'a sha256 that differs from the url digest',
      wasmCluster(
        plugin('https://registry.example/phiguard/filter.wasm', `oci://registry.example/phiguard@sha256:${digest}`),
      ),
      ['IST010', 'IST011'],
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
    [
      'phase unset under the CUSTOM policy: it runs after ext_authz either way',
      wasmCluster(plugin(/ {2}phase: .*\n/, '')),
      ['IST011'],
    ],
    ['no Telemetry', wasmCluster(wasmPlugin, ''), ['IST011', 'IST012']],
    [
      'a namespace-wide Telemetry in the plugin namespace',
      wasmCluster(wasmPlugin, telemetryIn('fhir', logsTo('phiguard-proxy-audit'))),
      ['IST011'],
    ],
    [
      'a root-namespace Telemetry',
      wasmCluster(wasmPlugin, telemetryIn('istio-system', logsTo('phiguard-proxy-audit'))),
      ['IST011'],
    ],
    [
      'a Telemetry in another namespace',
      wasmCluster(wasmPlugin, telemetryIn('scribe', logsTo('phiguard-proxy-audit'))),
      ['IST011', 'IST012'],
    ],
    [
      'a Telemetry selecting another workload',
      wasmCluster(wasmPlugin, telemetry().replace('app: fhir-server', 'app: billing')),
      ['IST011', 'IST012'],
    ],
    [
      'a workload Telemetry without the provider overrides a namespace one with it',
      wasmCluster(wasmPlugin, [telemetry('envoy'), telemetryIn('fhir', logsTo('phiguard-proxy-audit'))].join('---\n')),
      ['IST011', 'IST012'],
    ],
    [
      'outbound only (match mode CLIENT): the filter runs inbound',
      wasmCluster(wasmPlugin, telemetry().replace('mode: SERVER', 'mode: CLIENT')),
      ['IST011', 'IST012'],
    ],
    [
      'access logging disabled',
      wasmCluster(wasmPlugin, telemetryIn('fhir', logsTo('phiguard-proxy-audit', ', disabled: true'))),
      ['IST011', 'IST012'],
    ],
    [
      'a provider that does not log wasm.phiguard_decision',
      wasmCluster(wasmPlugin, telemetry(), alsProvider('[]')),
      ['IST011', 'IST012'],
    ],
    [
      'the provider among the mesh default access-log providers',
      wasmCluster(wasmPlugin, '', `${alsProvider()}  defaultProviders: { accessLogging: [phiguard-proxy-audit] }\n`),
      ['IST011'],
    ],
    [
      'no mesh config among the inputs: any provider the Telemetry names is accepted',
      wasmCluster(wasmPlugin, telemetry('defined-elsewhere'), '').replace(/meshConfig:[\s\S]*?---\n/, ''),
      ['IST011'],
    ],
    [
      'deferring to the next filter under a CUSTOM policy selecting exactly its workloads',
      wasmCluster().replace(
        'metadata: { name: fhir, namespace: fhir }\nspec: { action: CUSTOM,',
        'metadata: { name: fhir, namespace: fhir }\nspec: { selector: { matchLabels: { app: fhir-server } }, action: CUSTOM,',
      ),
      ['IST011'],
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
      ['IST011'],
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
    [
      'Checking deferred requests itself under the CUSTOM policy: Checked before the filter and again by it',
      wasmCluster(wasmPlugin.replace(deferLine, '')),
      ['IST011', 'IST014'],
    ],
    [
      'no CUSTOM policy, Checking deferred requests itself, phase STATS',
      noCustom(callout.replace('AUTHZ', 'STATS')),
      ['IST011'],
    ],
    ['no CUSTOM policy, phase unset', noCustom(callout.replace(/ {2}phase: .*\n/, '')), ['IST011']],
    [
      'a Telemetry entry with a filter expression (response.code >= 500 drops every in-proxy deny)',
      wasmCluster(
        wasmPlugin,
        telemetry().replace('mode: SERVER }', 'mode: SERVER }, filter: { expression: "response.code >= 500" }'),
      ),
      ['IST011', 'IST012'],
    ],
    [
      'a filtered Telemetry entry beside an unfiltered one to the same provider',
      wasmCluster(
        wasmPlugin,
        telemetry().replace(
          'accessLogging: [',
          'accessLogging: [{ providers: [{ name: phiguard-proxy-audit }], filter: { expression: "response.code >= 500" } }, ',
        ),
      ),
      ['IST011'],
    ],
  ])('%s', (_name, text, expected) => {
    expect(wasmFindings(text)).toEqual(expected);
  });
});

describe("Istio: phiguard's filter after the CUSTOM policy's ext_authz (IST011)", () => {
  const messages = (text: string): string[] =>
    wasmFindingsOf(text)
      .filter((f) => f.code === 'IST011')
      .map((f) => f.message);
  test('names the policy and says the filter saves no Check', () => {
    expect(messages(wasmCluster())).toEqual([
      "WasmPlugin fhir/phiguard-filter (phiguard's filter) runs after the ext_authz filter of CUSTOM AuthorizationPolicy " +
        'fhir/fhir (Istio inserts it before every WasmPlugin, whatever the phase): the filter sees only requests ' +
        'phiguard allowed and saves no Check',
    ]);
  });
  test('a program that allows in the proxy records a second decision for requests phiguard recorded already', () => {
    const allowing = wasmPlugin.replace('\\nend\\n', '\\nverdict\\tallow\\t200\\tr\\trule-allow\\ta\\t{}\\nend\\n');
    expect(messages(wasmCluster(allowing))[0]).toMatch(/saves no Check; each in-proxy allow records a second decision/);
  });
  test('without a CUSTOM policy on its workloads, phase AUTHZ is not reported', () => {
    expect(messages(noCustom(callout))).toEqual([]);
  });
});

describe('Istio: phiguard runs the receiver and accepts the filtering workload (IST015)', () => {
  const fhirServer = (sa = 'fhir-server'): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: fhir-server, namespace: fhir }
spec:
  template:
    metadata: { labels: { app: fhir-server } }
    spec:
      serviceAccountName: ${sa}
      containers: [{ name: fhir, image: hapiproject/hapi:v7.4.0 }]
`;
  const ID = 'spiffe://cluster.local/ns/fhir/sa/fhir-server';
  const xfcc = (reporters = ID): string =>
    `{ name: PHIGUARD_PROXY_AUDIT, value: xfcc }, { name: PHIGUARD_PROXY_AUDIT_REPORTERS, value: "${reporters}" }`;
  const cluster = (...docs: string[]): string => [wasmCluster(), ...docs].join('---\n');
  test.each<[string, string, string[]]>([
    [
      'xfcc naming the identity of the workload the WasmPlugin selects',
      cluster(phiguardServe(xfcc()), fhirServer()),
      [],
    ],
    [
      'PHIGUARD_PROXY_AUDIT unset: no AccessLogService',
      cluster(phiguardServe('{ name: PHIGUARD_PORT, value: "9191" }')),
      ['IST015'],
    ],
    ['PHIGUARD_PROXY_AUDIT off', cluster(phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, value: "off" }')), ['IST015']],
    [
      'network: any caller of the port may report',
      cluster(phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, value: network }')),
      [],
    ],
    [
      'the flags instead of the environment',
      cluster(phiguardServe('', `["serve", "--proxy-audit", "xfcc", "--proxy-audit-reporters=${ID}"]`), fhirServer()),
      [],
    ],
    ['a flag overrides the environment', cluster(phiguardServe(xfcc(), '["serve", "--proxy-audit=off"]')), ['IST015']],
    [
      'reporters naming another workload',
      cluster(phiguardServe(xfcc('spiffe://cluster.local/ns/fhir/sa/billing')), fhirServer()),
      ['IST015'],
    ],
    [
      'the selected workload runs as another service account',
      cluster(phiguardServe(xfcc()), fhirServer('fhir-api')),
      ['IST015'],
    ],
    [
      "phiguard's trust domain differs from the reporters'",
      cluster(phiguardServe(`${xfcc()}, { name: PHIGUARD_TRUST_DOMAIN, value: hospital.example }`), fhirServer()),
      ['IST015'],
    ],
    [
      'the selected workload is not among the inputs: reporters cannot be judged',
      cluster(phiguardServe(xfcc('spiffe://x/ns/y/sa/z'))),
      [],
    ],
    [
      'the mode from a ConfigMap (valueFrom): not judged',
      cluster(phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, valueFrom: { configMapKeyRef: { name: c, key: k } } }')),
      [],
    ],
    [
      'the mode possibly from envFrom: not judged',
      cluster(phiguardServe('', '["serve"]', '          envFrom: [{ configMapRef: { name: c } }]\n')),
      [],
    ],
    ['no WasmPlugin: the receiver may be off', [base(''), phiguardServe('')].join('---\n'), []],
    [
      'two phiguard WasmPlugins and a receiver that is off: one finding',
      cluster(phiguardServe(''), wasmPlugin.replace('name: phiguard-filter', 'name: phiguard-filter-2')),
      ['IST015'],
    ],
  ])('%s', (_name, text, expected) => {
    expect(wasmFindings(text).filter((c) => c !== 'IST011')).toEqual(expected);
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
      'the access log carrying the decisions samples 1% (runtime_filter)',
      envoyWasm.replace(
        '                  - name: envoy.access_loggers.http_grpc\n',
        '                  - name: envoy.access_loggers.http_grpc\n                    filter: { runtime_filter: { runtime_key: als, percent_sampled: { numerator: 1 } } }\n',
      ),
      ['ENV011'],
    ],
    [
      'the access log carrying the decisions logs 5xx only (status_code_filter)',
      envoyWasm.replace(
        '                  - name: envoy.access_loggers.http_grpc\n',
        '                  - name: envoy.access_loggers.http_grpc\n                    filter: { status_code_filter: { comparison: { op: GE, value: { default_value: 500, runtime_key: s } } } }\n',
      ),
      ['ENV011'],
    ],
    [
      'phiguard among the inputs with the receiver off',
      [envoyWasm, phiguardServe('{ name: PHIGUARD_PORT, value: "9191" }')].join('---\n'),
      ['ENV015'],
    ],
    [
      'phiguard among the inputs with --proxy-audit network',
      [envoyWasm, phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, value: network }')].join('---\n'),
      [],
    ],
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
