/**
 * A passing and a failing input per `phiguard check` rule. test/check/rules.test.ts asserts each;
 * scripts/generate-docs.ts runs each failing input to print the rule's example finding in docs/check/<ID>.md. The
 * Cilium CRD schemas come from ../shared/cilium (beside the checkout in CI): without them `validators` is empty and
 * the CRD rules cannot fire.
 */
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import type { CheckOptions } from '../../generator/check/index.js';
import { loadCrdValidator, type CrdValidator } from '../../generator/cilium/index.js';

/** ../shared/cilium when present. */
export const ciliumSharedDir: string | undefined = ((d) => (existsSync(d) ? d : undefined))(
  path.resolve('..', 'shared', 'cilium'),
);
export const validators: Record<string, CrdValidator> = ciliumSharedDir
  ? {
      CiliumNetworkPolicy: loadCrdValidator(path.join(ciliumSharedDir, 'ciliumnetworkpolicies.crd.yaml')),
      CiliumClusterwideNetworkPolicy: loadCrdValidator(
        path.join(ciliumSharedDir, 'ciliumclusterwidenetworkpolicies.crd.yaml'),
      ),
    }
  : {};

export const scribeCnp = readFileSync('cilium/generated/scribe.phiguard-ambient-scribe.yaml', 'utf8');
export const cnpDoc = yaml.load(scribeCnp) as Record<string, unknown>;
export const agent = (extra = '', spec = '') => `apiVersion: apps/v1
kind: Deployment
metadata: { name: ambient-scribe, namespace: scribe }
spec:
  template:
    metadata:
      labels: { app.kubernetes.io/name: ambient-scribe, phiguard.io/agent: "true" }
${extra}    spec:
      serviceAccountName: ambient-scribe
      automountServiceAccountToken: false
${spec}      containers: [{ name: c, image: x }]
`;
export const cnpWith = (mutate: (spec: Record<string, unknown>) => void): string => {
  const c = structuredClone(cnpDoc);
  mutate(c['spec'] as Record<string, unknown>);
  return yaml.dump(c);
};
export const provider = (body: string) => `meshConfig:
  extensionProviders:
    - name: phiguard
      envoyExtAuthzGrpc:
${body}`;
export const goodProvider = provider(
  '        service: phiguard.phiguard-system.svc.cluster.local\n        port: 9191\n        timeout: 0.5s\n        failOpen: false\n        includeRequestBodyInCheck: { maxRequestBytes: 8388608, allowPartialMessage: true }\n',
);
export const customPolicy = (name: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: fhir, namespace: fhir }
spec: { action: CUSTOM, provider: { name: ${name} }, rules: [{}] }
`;
export const envoy = readFileSync('envoy/envoy.yaml', 'utf8');
export const peerAuth = (mode: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: scribe }
spec: { mtls: { mode: ${mode} } }
`;

export const envoyWasm = readFileSync('envoy/envoy-wasm.yaml', 'utf8');
/** A WasmPlugin carrying a phiguard program on the FHIR server, fail-closed, pinned, in phase AUTHZ. */
export const wasmPlugin = `apiVersion: extensions.istio.io/v1alpha1
kind: WasmPlugin
metadata: { name: phiguard-filter, namespace: fhir }
spec:
  selector: { matchLabels: { app: fhir-server } }
  match: [{ mode: SERVER }]
  phase: AUTHZ
  failStrategy: FAIL_CLOSE
  url: https://registry.example/phiguard/filter.wasm
  sha256: ${'ab'.repeat(32)}
  pluginConfig: { program: "phiguard-wasm-program\\t1\\ndefer-to\\tnext-filter\\nend\\n" }
`;
/** The program line (as the YAML above spells it) that hands undecided requests to the ext_authz filter. */
export const deferLine = '\\ndefer-to\\tnext-filter';
/** The access-log provider that carries the filter's decisions to phiguard. */
export const alsProvider = (filterState = '[wasm.phiguard_decision]') => `meshConfig:
  extensionProviders:
    - name: phiguard-proxy-audit
      envoyHttpAls: { service: phiguard.phiguard-system.svc.cluster.local, port: 9191, filterStateObjectsToLog: ${filterState} }
`;
export const telemetry = (provider = 'phiguard-proxy-audit') => `apiVersion: telemetry.istio.io/v1
kind: Telemetry
metadata: { name: phiguard-proxy-audit, namespace: fhir }
spec:
  selector: { matchLabels: { app: fhir-server } }
  accessLogging: [{ match: { mode: SERVER }, providers: [{ name: ${provider} }] }]
`;
/** The example cluster with the filter, its provider and its Telemetry. */
export const wasmCluster = (plugin = wasmPlugin, tel = telemetry(), als = alsProvider()): string =>
  base([plugin, als, tel].filter((x) => x !== '').join('---\n'));
/**
 * phiguard's Deployment running `args` (a YAML flow sequence, `serve` by default) with the environment entries `env`
 * (a YAML flow sequence's items) and `extra` lines of the container (indented by 10 spaces, each ending in a newline).
 */
export const phiguardServe = (env: string, args = '["serve"]', extra = ''): string => `apiVersion: apps/v1
kind: Deployment
metadata: { name: phiguard, namespace: phiguard-system }
spec:
  template:
    metadata: { labels: { app.kubernetes.io/name: phiguard } }
    spec:
      serviceAccountName: phiguard
      containers:
        - name: phiguard
          image: phiguard:0.1.0
          args: ${args}
${extra}          env: [${env}]
`;
/** envoy/envoy-wasm.yaml with its HTTP filters reordered by `order` (indexes into the shipped list). */
export const envoyWasmReordered = (order: readonly number[]): string => {
  const b = yaml.load(envoyWasm) as Record<string, unknown>;
  const hcm = (
    ((b['static_resources'] as Record<string, unknown[]>)['listeners']?.[0] as Record<string, unknown[]>)[
      'filter_chains'
    ]?.[0] as Record<string, unknown[]>
  )['filters']?.[0] as Record<string, Record<string, unknown[]>>;
  const filters = hcm['typed_config']?.['http_filters'] ?? [];
  (hcm['typed_config'] as Record<string, unknown[]>)['http_filters'] = order.map((i) => filters[i]);
  return yaml.dump(b, { lineWidth: -1 });
};

export interface Case {
  rule: string;
  pass: string;
  fail: string;
  options?: CheckOptions;
  needsCrd?: boolean;
}
/** The example cluster with the agent's CiliumNetworkPolicy changed by `mutate`. */
export const withCnp = (mutate: (spec: Record<string, unknown>) => void): string =>
  [agent(), cnpWith(mutate), goodProvider, customPolicy('phiguard')].join('---\n');
export const base = (x: string) => [agent(), scribeCnp, goodProvider, customPolicy('phiguard'), x].join('---\n');
export const cases: Case[] = [
  { rule: 'CIL001', pass: base(''), fail: [agent(), goodProvider, customPolicy('phiguard')].join('---\n') },
  {
    rule: 'CIL002',
    pass: base(''),
    fail: withCnp((s) => {
      s['egressDeny'] = [{ toEntities: ['kube-apiserver'] }];
    }),
  },
  {
    rule: 'CIL003',
    pass: base(''),
    fail: withCnp((s) => {
      (s['egressDeny'] as unknown[]).pop();
    }),
  },
  {
    rule: 'CIL004',
    pass: base(''),
    fail: withCnp((s) => {
      (s['egress'] as unknown[]).push({ toEntities: ['world'] });
    }),
  },
  {
    rule: 'CIL005',
    pass: base(''),
    fail: withCnp((s) => {
      (s['egress'] as unknown[]).push({
        toFQDNs: [{ matchName: 'api.payer-b-clearinghouse.example' }],
        toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }],
      });
    }),
    options: { baaFile: 'examples/baa/registry.yaml', now: new Date('2026-11-25T00:00:00Z') },
  },
  {
    rule: 'CIL006',
    pass: base(''),
    // An FQDN the DNS rule does not list never resolves through the DNS proxy.
    fail: withCnp((s) => {
      (s['egress'] as unknown[]).push({
        toFQDNs: [{ matchName: 'api.unlisted-vendor.example' }],
        toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }] }],
      });
    }),
  },
  {
    rule: 'CIL010',
    pass: base(''),
    fail: base(
      cnpWith((s) => {
        s['egress'] = [{ toEntities: ['the-internet'] }];
      }),
    ),
    needsCrd: true,
  },
  {
    rule: 'CIL011',
    pass: base(''),
    fail: base(
      cnpWith((s) => {
        s['egressDeny'] = [{ toFQDNs: [{ matchName: 'a.example' }] }];
      }),
    ),
    needsCrd: true,
  },
  {
    rule: 'CIL012',
    pass: base(''),
    fail: base(
      cnpWith((s) => {
        s['egress'] = [{ toFQDNs: [{ matchName: 'a.example' }], toEndpoints: [{}] }];
      }),
    ),
  },
  { rule: 'IST001', pass: base(''), fail: base(customPolicy('phigaurd')) },
  {
    rule: 'IST002',
    pass: base(''),
    fail: [
      agent(),
      scribeCnp,
      customPolicy('phiguard'),
      provider(
        '        service: phiguard.phiguard-system.svc.cluster.local\n        port: 9191\n        timeout: 0.5s\n        failOpen: true\n        includeRequestBodyInCheck: { maxRequestBytes: 8388608 }\n',
      ),
    ].join('---\n'),
  },
  {
    rule: 'IST003',
    pass: base(''),
    fail: [
      agent(),
      scribeCnp,
      customPolicy('phiguard'),
      provider(
        '        service: phiguard.phiguard-system.svc.cluster.local\n        port: 9191\n        timeout: 0.5s\n',
      ),
    ].join('---\n'),
  },
  {
    rule: 'IST004',
    pass: base(''),
    fail: [
      agent(),
      scribeCnp,
      customPolicy('phiguard'),
      provider(
        '        service: phiguard.phiguard-system.svc.cluster.local\n        port: 9191\n        timeout: 30s\n        includeRequestBodyInCheck: { maxRequestBytes: 8388608 }\n',
      ),
    ].join('---\n'),
  },
  { rule: 'IST005', pass: base(''), fail: [agent(), scribeCnp, goodProvider].join('---\n') },
  { rule: 'IST006', pass: base(''), fail: base('').replace('rules: [{}]', 'rules: []') },
  {
    rule: 'IST007',
    pass: base(''),
    fail: base('').replace('rules: [{}]', 'rules: [{ to: [{ operation: { methods: [GET, POST] } }] }]'),
  },
  {
    rule: 'IST008',
    pass: base(peerAuth('STRICT')),
    fail: base(peerAuth('PERMISSIVE')),
  },
  {
    rule: 'ENV001',
    pass: envoy,
    fail: envoy.replace(
      / {18}- name: envoy\.filters\.http\.ext_authz[\s\S]*?(?= {18}- name: envoy\.filters\.http\.router)/,
      '',
    ),
  },
  { rule: 'ENV002', pass: envoy, fail: envoy.replace('failure_mode_allow: false', 'failure_mode_allow: true') },
  { rule: 'ENV003', pass: envoy, fail: envoy.replace('transport_api_version: V3', 'transport_api_version: V2') },
  { rule: 'ENV004', pass: envoy, fail: envoy.replace('failure_mode_allow: false', 'failure_mode_alow: false') },
  {
    rule: 'ENV005',
    pass: envoy,
    fail: envoy.replace(
      'failure_mode_allow: false',
      'failure_mode_allow: false\n                      a_field_from_a_later_envoy: true',
    ),
  },
  {
    rule: 'ENV006',
    pass: envoy,
    fail: envoy.replace(
      /( {18}- name: envoy\.filters\.http\.ext_authz[\s\S]*?)( {18}- name: envoy\.filters\.http\.router\n(?: {20}.*\n)*)/,
      '$2$1',
    ),
  },
  {
    rule: 'ENV007',
    pass: envoy,
    fail: envoy.replace(
      '                  - name: envoy.filters.http.ext_authz\n',
      '                  - name: envoy.filters.http.ext_authz\n                    disabled: true\n',
    ),
  },
  {
    rule: 'ENV008',
    pass: envoy,
    fail: envoy.replace('envoy_grpc: { cluster_name: phiguard }', 'envoy_grpc: { cluster_name: phiguard-authz }'),
  },
  { rule: 'IST009', pass: wasmCluster(), fail: wasmCluster(wasmPlugin.replace('FAIL_CLOSE', 'FAIL_OPEN')) },
  { rule: 'IST010', pass: wasmCluster(), fail: wasmCluster(wasmPlugin.replace(/ {2}sha256: .*\n/, '')) },
  {
    rule: 'IST011',
    // No CUSTOM policy on the plugin's workloads and a program that Checks deferred requests itself.
    pass: wasmCluster(wasmPlugin.replace(deferLine, '')).replace(
      'metadata: { name: fhir, namespace: fhir }',
      'metadata: { name: fhir, namespace: billing }',
    ),
    fail: wasmCluster(),
  },
  { rule: 'IST012', pass: wasmCluster(), fail: wasmCluster(wasmPlugin, telemetry('envoy')) },
  {
    rule: 'IST013',
    pass: wasmCluster(),
    fail: wasmCluster().replace(
      'metadata: { name: fhir, namespace: fhir }',
      'metadata: { name: fhir, namespace: billing }',
    ),
  },
  { rule: 'IST014', pass: wasmCluster(), fail: wasmCluster(wasmPlugin.replace(deferLine, '')) },
  {
    rule: 'IST015',
    pass: [wasmCluster(), phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, value: network }')].join('---\n'),
    fail: [wasmCluster(), phiguardServe('{ name: PHIGUARD_PORT, value: "9191" }')].join('---\n'),
  },
  { rule: 'ENV009', pass: envoyWasm, fail: envoyWasm.replace('fail_open: false', 'fail_open: true') },
  {
    rule: 'ENV010',
    pass: envoyWasm,
    fail: envoyWasm.replace(
      'local: { filename: /etc/envoy/wasm/phiguard-filter.wasm }',
      'remote: { http_uri: { uri: "https://registry.example/phiguard-filter.wasm", cluster: phiguard, timeout: 10s } }',
    ),
  },
  {
    rule: 'ENV011',
    pass: envoyWasm,
    fail: envoyWasm.replace('filter_state_objects_to_log: [wasm.phiguard_decision]', 'filter_state_objects_to_log: []'),
  },
  { rule: 'ENV012', pass: envoyWasm, fail: envoyWasmReordered([0, 2, 1, 3]) },
  {
    rule: 'ENV013',
    pass: envoyWasm,
    fail: envoyWasm.replace(
      '                  - name: envoy.filters.http.ext_authz\n',
      '                  - name: envoy.filters.http.ext_authz\n                    disabled: true\n',
    ),
  },
  { rule: 'ENV014', pass: envoyWasm, fail: envoyWasm.replace('\\ndefer-to\\tnext-filter', '') },
  {
    rule: 'ENV015',
    pass: [envoyWasm, phiguardServe('{ name: PHIGUARD_PROXY_AUDIT, value: network }')].join('---\n'),
    fail: [envoyWasm, phiguardServe('{ name: PHIGUARD_PORT, value: "9191" }')].join('---\n'),
  },
  {
    rule: 'K8S001',
    pass: base(''),
    fail: base(
      'apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRoleBinding\nmetadata: { name: x }\nsubjects: [{ kind: ServiceAccount, name: ambient-scribe, namespace: scribe }]\nroleRef: { kind: ClusterRole, name: cluster-admin, apiGroup: rbac.authorization.k8s.io }\n',
    ),
  },
  {
    rule: 'K8S002',
    pass: base(''),
    fail: [
      agent().replace('      automountServiceAccountToken: false\n', ''),
      scribeCnp,
      goodProvider,
      customPolicy('phiguard'),
    ].join('---\n'),
  },
  {
    rule: 'K8S005',
    pass: base(''),
    fail: base(
      agent()
        .replace('name: ambient-scribe, namespace', 'name: scribe-exporter, namespace')
        .replace('phiguard.io/agent: "true"', 'app: exporter'),
    ),
  },
  {
    rule: 'K8S003',
    pass: base(''),
    fail: [agent('', '      hostNetwork: true\n'), scribeCnp, goodProvider, customPolicy('phiguard')].join('---\n'),
  },
  {
    rule: 'K8S004',
    pass: [
      agent('      annotations: { phiguard.io/tool-execution: "true" }\n', '      runtimeClassName: gvisor\n'),
      scribeCnp,
      goodProvider,
      customPolicy('phiguard'),
    ].join('---\n'),
    fail: [
      agent('      annotations: { phiguard.io/tool-execution: "true" }\n'),
      scribeCnp,
      goodProvider,
      customPolicy('phiguard'),
    ].join('---\n'),
  },
  { rule: 'PHG001', pass: base(''), fail: base(''), options: { policiesDir: 'does-not-exist' } },
  { rule: 'PHG002', pass: base(''), fail: base(''), options: { baaFile: 'examples/policies/ambient-scribe.yaml' } },
  {
    rule: 'PHG003',
    pass: base(''),
    fail: base('').replace(/ambient-scribe/g, 'stray-agent'),
    options: { policiesDir: 'examples/policies' },
  },
  { rule: 'PHG004', pass: base(''), fail: base(''), options: { policiesDir: 'test/check/fixtures/broad-opt-in' } },
  {
    rule: 'PHG005',
    pass: base(''),
    fail: [
      agent().replace(
        'metadata: { name: ambient-scribe, namespace: scribe }',
        'metadata: { name: ambient-scribe, namespace: scribe, annotations: { phiguard.io/suppress: "CIL004" } }',
      ),
      scribeCnp,
      goodProvider,
      customPolicy('phiguard'),
    ].join('---\n'),
  },
];
