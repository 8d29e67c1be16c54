/**
 * `phiguard check`: a fixture per rule that passes and one that fails, the upstream Cilium corpus accepted, and the
 * realistic manifests in examples/ checked end to end through the CLI.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { parseManifestText, readManifests, runCheck, RULES, type CheckOptions } from '../../generator/check/index.js';
import { loadCrdValidator, type CrdValidator } from '../../generator/cilium/index.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { cli } from '../helpers/cli.js';

const scribeCnp = readFileSync('cilium/generated/scribe.phiguard-ambient-scribe.yaml', 'utf8');
const cnpDoc = yaml.load(scribeCnp) as Record<string, unknown>;
const agent = (extra = '', spec = '') => `apiVersion: apps/v1
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
const cnpWith = (mutate: (spec: Record<string, unknown>) => void): string => {
  const c = structuredClone(cnpDoc);
  mutate(c['spec'] as Record<string, unknown>);
  return yaml.dump(c);
};
const provider = (body: string) => `meshConfig:
  extensionProviders:
    - name: phiguard
      envoyExtAuthzGrpc:
${body}`;
const goodProvider = provider(
  '        service: phiguard.phiguard-system.svc.cluster.local\n        port: 9191\n        timeout: 0.5s\n        failOpen: false\n        includeRequestBodyInCheck: { maxRequestBytes: 8388608, allowPartialMessage: true }\n',
);
const customPolicy = (name: string) => `apiVersion: security.istio.io/v1
kind: AuthorizationPolicy
metadata: { name: fhir, namespace: fhir }
spec: { action: CUSTOM, provider: { name: ${name} }, rules: [{}] }
`;
const envoy = readFileSync('envoy/envoy.yaml', 'utf8');
const peerAuth = (mode: string) => `apiVersion: security.istio.io/v1
kind: PeerAuthentication
metadata: { name: default, namespace: scribe }
spec: { mtls: { mode: ${mode} } }
`;

const dir = sharedDir('cilium');
/** Tests that need the Cilium CRD schemas from ../shared/cilium: skipped (and reported skipped) without them. */
const withCrd = testWhenShared(
  dir,
  'phiguard check: CIL010/CIL011 fixtures, the upstream Cilium corpus, the example cluster against the CRD schemas',
);
const validators: Record<string, CrdValidator> = dir
  ? {
      CiliumNetworkPolicy: loadCrdValidator(path.join(dir, 'ciliumnetworkpolicies.crd.yaml')),
      CiliumClusterwideNetworkPolicy: loadCrdValidator(path.join(dir, 'ciliumclusterwidenetworkpolicies.crd.yaml')),
    }
  : {};

interface Case {
  rule: string;
  pass: string;
  fail: string;
  options?: CheckOptions;
  needsCrd?: boolean;
}
/** The example cluster with the agent's CiliumNetworkPolicy changed by `mutate`. */
const withCnp = (mutate: (spec: Record<string, unknown>) => void): string =>
  [agent(), cnpWith(mutate), goodProvider, customPolicy('phiguard')].join('---\n');
const base = (x: string) => [agent(), scribeCnp, goodProvider, customPolicy('phiguard'), x].join('---\n');
const cases: Case[] = [
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

function ids(text: string, options: CheckOptions = {}): string[] {
  const { docs, problems } = parseManifestText(text, 'fixture.yaml');
  expect(problems).toEqual([]);
  return runCheck(docs, { validators, ...options }).map((f) => f.code);
}

describe('phiguard check rules', () => {
  test('every rule in the catalog has a fixture', () => {
    expect(cases.map((c) => c.rule).sort()).toEqual(RULES.map((r) => r.id).sort());
  });

  const passesAndFails = (_id: string, c: Case): void => {
    const passOptions = c.rule.startsWith('PHG')
      ? { ...c.options, ...(c.rule === 'PHG003' ? {} : { policiesDir: undefined, baaFile: undefined }) }
      : c.options;
    expect(
      ids(c.pass, Object.fromEntries(Object.entries(passOptions ?? {}).filter(([, v]) => v !== undefined))),
    ).not.toContain(c.rule);
    expect(ids(c.fail, c.options)).toContain(c.rule);
  };
  const rows = (needsCrd: boolean) =>
    cases.filter((c) => (c.needsCrd ?? false) === needsCrd).map((c) => [c.rule, c] as const);
  test.each(rows(false))('%s: the passing fixture passes and the failing one fails', passesAndFails);
  withCrd.each(rows(true))(
    '%s: the passing fixture passes and the failing one fails (Cilium CRD schema)',
    passesAndFails,
  );

  test('findings carry the line of the offending field', () => {
    const text = envoy.replace('failure_mode_allow: false', 'failure_mode_allow: true');
    const { docs } = parseManifestText(text, 'envoy.yaml');
    const f = runCheck(docs).find((x) => x.code === 'ENV002');
    expect(f?.line).toBe(text.split('\n').findIndex((l) => l.includes('failure_mode_allow: true')) + 1);
  });

  withCrd('the upstream Cilium corpus is accepted (no CIL010-CIL012 findings)', () => {
    const { docs, problems } = readManifests([path.join(dir ?? '', 'examples-upstream')]);
    expect(problems).toEqual([]);
    expect(docs.length).toBeGreaterThanOrEqual(20);
    expect(runCheck(docs, { validators }).filter((f) => /^CIL01/.test(f.code))).toEqual([]);
  });
});

describe('phiguard check through the CLI', () => {
  const crdArgs = dir
    ? [
        '--cilium-crd',
        path.join(dir, 'ciliumnetworkpolicies.crd.yaml'),
        '--cilium-crd',
        path.join(dir, 'ciliumclusterwidenetworkpolicies.crd.yaml'),
      ]
    : [];
  const all = [
    'examples/manifests',
    'cilium/generated',
    'envoy',
    'deploy/overlays/istio/authorization-policy.yaml',
    'deploy/overlays/istio/istiod-values.yaml',
    '--baa',
    'examples/baa/registry.yaml',
    '--policies',
    'examples/policies',
    '--at',
    '2026-11-25T00:00:00Z',
  ];
  const clean = async (args: readonly string[]) => {
    const r = await cli(['check', ...all, ...args]);
    expect([r.code, r.out.trim().split('\n').pop()]).toEqual([0, 'no findings']);
  };

  test('the example cluster (agents, generated Cilium, Envoy, Istio, RBAC) is clean without CRD schemas: exit 0', () =>
    clean([]));

  withCrd('the example cluster is clean against the Cilium CRD schemas (--cilium-crd): exit 0', () => clean(crdArgs));

  test('a broken cluster fails with file:line findings, JSON and SARIF 2.1.0', async () => {
    const { tempDir } = await import('../helpers/temp.js');
    const t = tempDir({ 'bad.yaml': [agent('', '      hostNetwork: true\n'), customPolicy('phigaurd')].join('---\n') });
    try {
      const text = await cli(['check', t.dir, 'envoy']);
      expect(text.code).toBe(1);
      expect(text.out).toMatch(new RegExp(`${t.dir}/bad.yaml:\\d+: error K8S003 agent-host-network`));
      expect(text.out).toMatch(/error CIL001/);
      const sarif = await cli(['check', t.dir, '--format', 'sarif']);
      const s = JSON.parse(sarif.out) as {
        version: string;
        runs: Array<{
          tool: { driver: { rules: Array<{ id: string }> } };
          results: Array<{
            ruleId: string;
            level: string;
            locations: Array<{ physicalLocation: { region: { startLine: number } } }>;
          }>;
        }>;
      };
      expect(s.version).toBe('2.1.0');
      const run = s.runs[0];
      expect(run?.results.map((x) => x.ruleId)).toEqual(expect.arrayContaining(['CIL001', 'IST005', 'K8S003']));
      for (const res of run?.results ?? []) expect(run?.tool.driver.rules.map((x) => x.id)).toContain(res.ruleId);
      const json = await cli(['check', t.dir, '--format', 'json', '--fail-on', 'warning']);
      expect(json.code).toBe(1);
      expect((JSON.parse(json.out) as { findings: unknown[] }).findings.length).toBeGreaterThan(2);
    } finally {
      t.remove();
    }
  });

  test('unreadable input exits 2', async () => {
    expect((await cli(['check', 'no/such/path'])).code).toBe(2);
  });
});

describe('documentation', () => {
  test('the README rule table is the catalog: id (linked to docs/check.md), name and severity, in order', () => {
    const readme = readFileSync('README.md', 'utf8');
    const rows = [
      ...readme.matchAll(/^\| \[([A-Z0-9]{3}\d{3})\]\(docs\/check\.md#([a-z0-9]+)\) \| ([a-z0-9-]+) \| (\w+) \|$/gm),
    ];
    expect(rows.map((m) => [m[1], m[2], m[3], m[4]])).toEqual(
      RULES.map((r) => [r.id, r.id.toLowerCase(), r.name, r.severity]),
    );
  });

  test('docs/check.md gives every rule its section with the catalog name, severity, why and fix', () => {
    const doc = readFileSync('docs/check.md', 'utf8');
    for (const r of RULES) {
      const section = doc.split(/^### /m).find((s) => s.startsWith(`${r.id}\n`)) ?? '';
      expect(section).toContain(`**${r.name}** (${r.severity})`);
      expect(section.replace(/\s+/g, ' ')).toContain(`Why: ${r.why}`.replace(/\s+/g, ' '));
      expect(section.replace(/\s+/g, ' ')).toContain(`Fix: ${r.fix}`.replace(/\s+/g, ' '));
    }
  });
});

describe('no error-level finding on valid Istio configs (fixtures written from Istio test data)', () => {
  test.each(['authorization-policies.yaml', 'peer-authentications.yaml'])('%s', (file) => {
    const { docs, problems } = readManifests([path.join('test/check/fixtures/istio-valid', file)]);
    expect(problems).toEqual([]);
    expect(runCheck(docs).filter((f) => f.severity === 'error')).toEqual([]);
  });
});
