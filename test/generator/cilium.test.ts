/**
 * CiliumNetworkPolicy generation: golden files for the three example agents, determinism, and validation of every
 * generated policy and every upstream Cilium example against the CRD schema (../shared/cilium), unknown fields and
 * the agent's import rules.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { toYaml } from '../../authz/config/index.js';
import { readEnvelopes, type Envelope, type BaaRegistry } from '../../authz/index.js';
import { readBaaRegistry } from '../../authz/egress/index.js';
import { mergeAll } from '../../generator/envelope/index.js';
import {
  checkImportRules,
  generateCilium,
  loadCrdValidator,
  pathRegex,
  validateCiliumPolicy,
  type CrdValidator,
} from '../../generator/cilium/index.js';
import { RE2JS } from 're2js';
import { sharedDir } from '../helpers/shared.js';

const AT = new Date('2026-11-25T00:00:00Z');
const reg = readBaaRegistry('examples/baa/registry.yaml');
if (!reg.ok) throw reg.error;
const registry: BaaRegistry = reg.value;

function exampleEnvelopes(): Envelope[] {
  const groups = new Map<string, Envelope[]>();
  for (const r of readEnvelopes('examples/envelopes')) {
    if (!r.ok) throw r.error;
    const { envelope } = r.value;
    const k = `${envelope.spec.workload.namespace}/${envelope.spec.workload.name}`;
    groups.set(k, [...(groups.get(k) ?? []), envelope]);
  }
  return [...groups.values()].map((g) => {
    const m = mergeAll(g);
    if (!m.ok) throw m.error;
    return m.value;
  });
}

const dump = (p: unknown): string => toYaml(p, 200);

/**
 * The documented command for cilium/generated (docs/cilium.md): outside traffic through the egress gateway of
 * deploy/overlays/istio/egress-gateway.yaml; the agents' SPIFFE principals put them in the mesh.
 */
const EXAMPLE_OPTIONS = {
  registry,
  at: AT,
  egressGateway: { selector: { namespace: 'istio-egress', labels: { istio: 'egressgateway' } }, ports: [443] },
} as const;

describe('generate cilium: example agents', () => {
  const result = generateCilium(exampleEnvelopes(), EXAMPLE_OPTIONS);

  test.each(['cds.phiguard-sepsis-advisor', 'prior-auth.phiguard-pa-bot', 'scribe.phiguard-ambient-scribe'])(
    'matches the golden file cilium/generated/%s.yaml',
    (name) => {
      const p = result.policies.find((x) => `${x.namespace}.${x.name}` === name);
      expect(p).toBeDefined();
      expect(dump(p?.policy)).toBe(readFileSync(path.join('cilium/generated', `${name}.yaml`), 'utf8'));
    },
  );

  test('is deterministic: byte-identical on re-run and independent of input order', () => {
    const again = generateCilium([...exampleEnvelopes()].reverse(), EXAMPLE_OPTIONS);
    expect(again.policies.map((p) => dump(p.policy))).toEqual(result.policies.map((p) => dump(p.policy)));
    expect(again.findings).toEqual(result.findings);
  });

  test('the example envelopes hold only traffic the egress lane let through: no findings', () => {
    expect(result.findings).toEqual([]);
  });

  test('an endpoint without an active BAA is not allowed and becomes a finding with evidence', () => {
    const pa = exampleEnvelopes().find((e) => e.spec.workload.name === 'pa-bot') as Envelope;
    const seen = {
      ...pa,
      spec: {
        ...pa.spec,
        egress: [
          ...pa.spec.egress,
          {
            host: 'api.payer-b-clearinghouse.example',
            port: 443,
            protocol: 'TCP' as const,
            transports: ['tls' as const],
            methods: ['POST'],
            paths: ['/v2/eligibility'],
            count: 20,
          },
        ],
      },
    };
    const r = generateCilium([seen], { registry, at: AT });
    expect(r.findings).toEqual([
      expect.objectContaining({
        severity: 'error',
        code: 'egress-not-covered-by-baa',
        workload: 'prior-auth/pa-bot',
        evidence: expect.objectContaining({
          host: 'api.payer-b-clearinghouse.example',
          port: 443,
          count: 20,
          vendor: 'Payer B clearinghouse',
        }),
      }),
    ]);
    expect(JSON.stringify(r.policies)).not.toContain('payer-b-clearinghouse');
  });

  test('every toFQDNs name is in the DNS allow-list, which never holds a bare *', () => {
    for (const { policy } of result.policies) {
      const egress = ((policy['spec'] as Record<string, unknown>)['egress'] ?? []) as Array<Record<string, unknown>>;
      const dns = egress.flatMap((r) =>
        ((r['toPorts'] as Array<{ rules?: { dns?: Array<Record<string, string>> } }> | undefined) ?? []).flatMap(
          (tp) => tp.rules?.dns ?? [],
        ),
      );
      const names = egress.flatMap((r) =>
        ((r['toFQDNs'] as Array<{ matchName?: string }> | undefined) ?? []).map((f) => f.matchName),
      );
      for (const n of names) expect(dns).toContainEqual({ matchName: n });
      expect(dns).not.toContainEqual({ matchPattern: '*' });
    }
  });

  test('metadata endpoints are denied by exact /32 and /128, never the link-local range', () => {
    for (const { policy } of result.policies) {
      const deny = (
        policy['spec'] as { egressDeny: Array<{ toCIDRSet?: Array<{ cidr: string }>; toEntities?: string[] }> }
      ).egressDeny;
      const cidrs = deny.flatMap((d) => (d.toCIDRSet ?? []).map((c) => c.cidr));
      expect(cidrs).toEqual(
        expect.arrayContaining(['169.254.169.254/32', 'fd00:ec2::254/128', '100.100.100.200/32', 'fd20:ce::254/128']),
      );
      for (const c of cidrs) expect(c).toMatch(/\/(32|128)$/);
      expect(deny).toContainEqual({ toEntities: ['kube-apiserver'] });
      expect((policy['spec'] as Record<string, unknown>)['enableDefaultDeny']).toEqual({
        egress: true,
        ingress: false,
      });
    }
  });
});

describe('generate cilium: rules', () => {
  const base = exampleEnvelopes().find((e) => e.spec.workload.name === 'ambient-scribe') as Envelope;
  const withEgress = (egress: Envelope['spec']['egress']): Envelope => ({ ...base, spec: { ...base.spec, egress } });

  test('plaintext HTTP outside the mesh gets L7 rules with anchored paths that tolerate a query string', () => {
    const r = generateCilium(
      [
        withEgress([
          {
            host: 'dicomweb.imaging.svc.cluster.local',
            port: 8042,
            protocol: 'TCP',
            transports: ['plaintext'],
            methods: ['GET'],
            paths: ['/studies/{id}/series'],
            count: 3,
            peer: { namespace: 'imaging', serviceAccount: 'dicomweb', labels: {} },
          },
        ]),
      ],
      { registry, at: AT, mesh: 'none' },
    );
    const rule = (r.policies[0]?.policy['spec'] as { egress: Array<Record<string, unknown>> }).egress.find(
      (x) => x['toEndpoints'] !== undefined && JSON.stringify(x).includes('"8042"'),
    );
    expect(rule).toEqual({
      toEndpoints: [
        {
          matchLabels: {
            'k8s:io.cilium.k8s.policy.serviceaccount': 'dicomweb',
            'k8s:io.kubernetes.pod.namespace': 'imaging',
          },
        },
      ],
      toPorts: [
        {
          ports: [{ port: '8042', protocol: 'TCP' }],
          rules: { http: [{ method: 'GET', path: '^/studies/[^/?]+/series(\\?.*)?$' }] },
        },
      ],
    });
    const re = RE2JS.compile(pathRegex('/studies/{id}/series'));
    expect(re.matches('/studies/1.2.3/series')).toBe(true);
    expect(re.matches('/studies/1.2.3/series?limit=5')).toBe(true);
    expect(re.matches('/studies/1.2.3/series/extra')).toBe(false);
    expect(re.matches('/studies/a/b/series')).toBe(false);
  });

  test('a metadata exception is honoured only when explicit and recorded', () => {
    const env = withEgress([
      {
        host: '169.254.170.23',
        port: 80,
        protocol: 'TCP',
        transports: ['plaintext'],
        methods: ['GET'],
        paths: ['/v1/credentials'],
        count: 4,
      },
    ]);
    const without = generateCilium([env], { registry, at: AT });
    expect(without.findings.map((f) => f.code)).toContain('egress-to-metadata-endpoint');
    expect(JSON.stringify(without.policies[0]?.policy)).toContain('169.254.170.23/32');
    const withEx = generateCilium([env], { registry, at: AT, allowMetadata: ['eks-pod-identity'] });
    const spec = withEx.policies[0]?.policy['spec'] as {
      egress: unknown[];
      egressDeny: Array<{ toCIDRSet?: Array<{ cidr: string }> }>;
    };
    expect(spec.egress).toContainEqual({
      toCIDR: ['169.254.170.23/32'],
      toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
    });
    expect(spec.egressDeny[0]?.toCIDRSet?.map((c) => c.cidr)).not.toContain('169.254.170.23/32');
    expect(spec.egressDeny[0]?.toCIDRSet?.map((c) => c.cidr)).toContain('169.254.169.254/32');
  });

  test('expired agreements and uncovered ports are not allowed', () => {
    const env = withEgress([
      {
        host: 'contoso-health.openai.azure.com',
        port: 8443,
        protocol: 'TCP',
        transports: ['tls'],
        methods: [],
        paths: [],
        count: 1,
      },
    ]);
    expect(generateCilium([env], { registry, at: AT }).findings[0]).toMatchObject({
      code: 'egress-not-covered-by-baa',
      message: expect.stringContaining('port-not-covered'),
    });
    const later = generateCilium(
      [
        withEgress([
          {
            host: 'contoso-health.openai.azure.com',
            port: 443,
            protocol: 'TCP',
            transports: ['tls'],
            methods: [],
            paths: [],
            count: 1,
          },
        ]),
      ],
      { registry, at: new Date('2028-01-01T00:00:00Z') },
    );
    expect(later.findings[0]).toMatchObject({
      code: 'egress-not-covered-by-baa',
      message: expect.stringContaining('expired'),
    });
  });

  test('a wildcard FQDN is emitted only when the envelope says so', () => {
    const env = withEgress([
      {
        host: 'east.pas.payer-a.example',
        port: 443,
        protocol: 'TCP',
        transports: ['tls'],
        methods: [],
        paths: [],
        count: 1,
        fqdnPattern: '*.pas.payer-a.example',
      },
    ]);
    const spec = generateCilium([env], { registry, at: AT }).policies[0]?.policy['spec'] as {
      egress: Array<Record<string, unknown>>;
    };
    expect(
      spec.egress.some(
        (r) => JSON.stringify(r['toFQDNs']) === JSON.stringify([{ matchPattern: '*.pas.payer-a.example' }]),
      ),
    ).toBe(true);
  });
});

describe('Cilium validation (CRD schema from ../shared/cilium + unknown fields + import rules)', () => {
  const dir = sharedDir('cilium');
  const validators: Record<string, CrdValidator> = dir
    ? {
        CiliumNetworkPolicy: loadCrdValidator(path.join(dir, 'ciliumnetworkpolicies.crd.yaml')),
        CiliumClusterwideNetworkPolicy: loadCrdValidator(path.join(dir, 'ciliumclusterwidenetworkpolicies.crd.yaml')),
      }
    : {};
  const upstream = dir ? readdirSync(path.join(dir, 'examples-upstream')).sort() : [];
  const maybe = dir ? test : test.skip;

  (dir ? test.each(upstream) : test.skip.each(['(../shared absent)']))('upstream example %s passes', (file) => {
    for (const doc of yaml.loadAll(readFileSync(path.join(dir ?? '', 'examples-upstream', file), 'utf8'))) {
      if (doc) expect(validateCiliumPolicy(doc, validators)).toEqual([]);
    }
  });

  maybe('every generated example policy passes', () => {
    for (const f of readdirSync('cilium/generated'))
      expect([
        f,
        validateCiliumPolicy(yaml.load(readFileSync(path.join('cilium/generated', f), 'utf8')), validators),
      ]).toEqual([f, []]);
  });

  const cnp = (spec: Record<string, unknown>) => ({
    apiVersion: 'cilium.io/v2',
    kind: 'CiliumNetworkPolicy',
    metadata: { name: 'x', namespace: 'y' },
    spec: { endpointSelector: {}, ...spec },
  });
  maybe.each([
    [
      'egressDeny with toFQDNs (pruned by the API server)',
      cnp({ egressDeny: [{ toFQDNs: [{ matchName: 'a.example' }] }] }),
      /unknown field "toFQDNs"/,
    ],
    [
      'egressDeny with L7 rules',
      cnp({
        egressDeny: [
          { toEndpoints: [{}], toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{}] } }] },
        ],
      }),
      /unknown field "rules"/,
    ],
    ['a misspelled field', cnp({ egress: [{ toEndpoint: [{}] }] }), /unknown field "toEndpoint"/],
    [
      'toFQDNs and toEndpoints in one rule',
      cnp({ egress: [{ toFQDNs: [{ matchName: 'a.example' }], toEndpoints: [{}] }] }),
      /combining toEndpoints and toFQDNs/,
    ],
    [
      'HTTP rules on UDP',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [{ ports: [{ port: '80', protocol: 'UDP' }], rules: { http: [{ method: 'GET' }] } }],
          },
        ],
      }),
      /only apply to TCP/,
    ],
    [
      'DNS rules with a port range',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [
              { ports: [{ port: '53', endPort: 60, protocol: 'UDP' }], rules: { dns: [{ matchPattern: '*' }] } },
            ],
          },
        ],
      }),
      /port ranges/,
    ],
    [
      'DNS and HTTP in one rules object',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [
              { ports: [{ port: '53', protocol: 'TCP' }], rules: { dns: [{ matchName: 'a.example' }], http: [{}] } },
            ],
          },
        ],
      }),
      /multiple L7/,
    ],
    [
      'serverNames with HTTP rules and no terminatingTLS',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [{ ports: [{ port: '443', protocol: 'TCP' }], serverNames: ['a.example'], rules: { http: [{}] } }],
          },
        ],
      }),
      /serverNames cannot be combined/,
    ],
    [
      'an HTTP path that is not RE2',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }], rules: { http: [{ path: '^/(?=x)' }] } }],
          },
        ],
      }),
      /RE2/,
    ],
    [
      'both endpointSelector and nodeSelector',
      { ...cnp({ egress: [{}] }), spec: { endpointSelector: {}, nodeSelector: {}, egress: [{}] } },
      /exactly one of endpointSelector or nodeSelector/,
    ],
    ['no rule section', cnp({}), /at least one of ingress/],
    [
      'an except outside its CIDR',
      cnp({ egress: [{ toCIDRSet: [{ cidr: '10.0.0.0/8', except: ['192.168.0.0/16'] }] }] }),
      /must lie inside/,
    ],
    [
      'more than 40 ports',
      cnp({
        egress: [
          {
            toEndpoints: [{}],
            toPorts: [{ ports: Array.from({ length: 41 }, (_, i) => ({ port: String(1000 + i), protocol: 'TCP' })) }],
          },
        ],
      }),
      /40 ports/,
    ],
  ])('rejects %s', (_n, doc, message) => {
    expect(
      validateCiliumPolicy(doc, validators)
        .map((f) => f.message)
        .join('\n'),
    ).toMatch(message);
  });

  test('import rules alone (no CRD) still reject what the agent rejects', () => {
    expect(
      checkImportRules(cnp({ egress: [{ toFQDNs: [{ matchName: 'a.example' }], toCIDR: ['10.0.0.1/32'] }] })).length,
    ).toBeGreaterThan(0);
  });
});
