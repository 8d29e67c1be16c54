/**
 * generate cilium, what makes a generated policy work in a cluster: the DNS allow-list (recorded names and their
 * search-list expansions), one reading of "internal" shared with serve, HTTP rules never on traffic that may be TLS
 * on the wire, Istio sidecars and istiod, the egress-gateway mode, the DNS selector, ingress from recorded callers,
 * and the exit code of `phiguard generate cilium`. Fixture envelopes: test/generator/fixtures/cilium. Every policy
 * generated here is validated against the Cilium v1.19.4 CRD in ../shared/cilium (skipped loudly without it).
 */
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { readEnvelopes, type BaaRegistry, type Envelope } from '../../authz/index.js';
import { DEFAULT_INTERNAL_SUFFIXES, isInternalName, readBaaRegistry } from '../../authz/egress/index.js';
import { mergeAll } from '../../generator/envelope/index.js';
import {
  chooseL7,
  generateCilium,
  loadCrdValidator,
  parsePodSelector,
  searchListNames,
  validateCiliumPolicy,
  type CrdValidator,
  type GenerateOptions,
  type GenerateResult,
} from '../../generator/cilium/index.js';
import { cli } from '../helpers/cli.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';

const AT = new Date('2026-11-25T00:00:00Z');
const FIXTURES = 'test/generator/fixtures/cilium';
const reg = readBaaRegistry('examples/baa/registry.yaml');
if (!reg.ok) throw reg.error;
const registry: BaaRegistry = reg.value;

function envelopesIn(dir: string): Envelope[] {
  const groups = new Map<string, Envelope[]>();
  for (const r of readEnvelopes(dir)) {
    if (!r.ok) throw r.error;
    const e = r.value.envelope;
    const k = `${e.spec.workload.namespace}/${e.spec.workload.name}`;
    groups.set(k, [...(groups.get(k) ?? []), e]);
  }
  return [...groups.values()].map((g) => {
    const m = mergeAll(g);
    if (!m.ok) throw m.error;
    return m.value;
  });
}
const fixtures = envelopesIn(FIXTURES);
const examples = envelopesIn('examples/envelopes');
const billing = fixtures.find((e) => e.spec.workload.name === 'billing-agent') as Envelope;
const triage = fixtures.find((e) => e.spec.workload.name === 'triage-bot') as Envelope;

type Rule = Record<string, unknown> & {
  toFQDNs?: Array<{ matchName?: string; matchPattern?: string }>;
  toEndpoints?: Array<{ matchLabels: Record<string, string> }>;
  toPorts?: Array<{
    ports: Array<{ port: string; protocol: string }>;
    serverNames?: string[];
    rules?: { http?: unknown[]; dns?: Array<{ matchName?: string; matchPattern?: string }> };
  }>;
};
interface Spec {
  egress?: Rule[];
  ingress?: Array<Record<string, unknown>>;
  egressDeny: Array<{ toCIDRSet?: Array<{ cidr: string }> }>;
  enableDefaultDeny: { egress: boolean; ingress: boolean };
}

/** Every policy generated in this file, for the CRD check at the end. */
const generated: Array<[string, unknown]> = [];
function run(envs: readonly Envelope[], extra: Partial<GenerateOptions> = {}): GenerateResult {
  const r = generateCilium(envs, { registry, at: AT, ...extra });
  for (const p of r.policies) generated.push([`${p.namespace}/${p.name} ${JSON.stringify(extra)}`, p.policy]);
  return r;
}
function specOf(r: GenerateResult, name: string): Spec {
  const p = r.policies.find((x) => x.name === `phiguard-${name}`);
  if (!p) throw new Error(`no policy for ${name}`);
  return p.policy['spec'] as Spec;
}
function annotations(r: GenerateResult, name: string): Record<string, string> {
  const p = r.policies.find((x) => x.name === `phiguard-${name}`);
  return (p?.policy['metadata'] as { annotations: Record<string, string> }).annotations;
}
function dnsOf(spec: Spec): string[] {
  return (spec.egress ?? []).flatMap((r) =>
    (r.toPorts ?? []).flatMap((tp) => (tp.rules?.dns ?? []).map((d) => d.matchName ?? `pattern:${d.matchPattern}`)),
  );
}
const fqdnNames = (spec: Spec): string[] =>
  (spec.egress ?? []).flatMap((r) => (r.toFQDNs ?? []).map((f) => f.matchName ?? f.matchPattern ?? ''));
const httpRules = (spec: Spec): unknown[] =>
  (spec.egress ?? []).flatMap((r) => (r.toPorts ?? []).flatMap((tp) => tp.rules?.http ?? []));

describe('DNS: every recorded name and its search-list expansions', () => {
  test.each(examples.map((e) => [e.spec.workload.name, e] as const))(
    'the example agent %s can resolve its FHIR server (fhir.hospital.internal) and every expansion',
    (name, env) => {
      const dns = dnsOf(specOf(run([env]), name));
      for (const n of searchListNames('fhir.hospital.internal', {
        namespace: env.spec.workload.namespace,
        clusterDomain: 'cluster.local',
        extra: [],
      }))
        expect(dns).toContain(n);
      expect(dns).toContain(`fhir.hospital.internal.${env.spec.workload.namespace}.svc.cluster.local`);
      expect(dns.filter((d) => d.startsWith('pattern:'))).toEqual([]); // no wildcard: exact names only
    },
  );

  test("the envelope's dnsNames are read: canonical, expanded, node search domains from --dns-search", () => {
    const r = run([billing], { dnsSearch: ['ec2.internal'] });
    const dns = dnsOf(specOf(r, 'billing-agent'));
    expect(dns).toEqual(
      expect.arrayContaining([
        'login.hospital.internal',
        'login.hospital.internal.billing.svc.cluster.local',
        'login.hospital.internal.svc.cluster.local',
        'login.hospital.internal.cluster.local',
        'login.hospital.internal.ec2.internal',
        'fhir.hospital.internal.ec2.internal',
      ]),
    );
    expect(r.findings).toContainEqual(
      expect.objectContaining({
        code: 'dns-name-invalid',
        severity: 'warning',
        path: expect.stringMatching(/^spec\.dnsNames\[\d\]$/),
      }),
    );
    expect(JSON.stringify(dns)).not.toContain('bad name');
  });

  test('a name allowed by toFQDNs is always in the allow-list; a dropped one is not', () => {
    const spec = specOf(run([billing]), 'billing-agent');
    for (const n of fqdnNames(spec)) expect(dnsOf(spec)).toContain(n);
    expect(JSON.stringify(spec)).not.toContain('payer-b-clearinghouse');
  });

  test('expansions that would exceed 253 characters are left out', () => {
    const long = `${'a'.repeat(63)}.${'b'.repeat(63)}.${'c'.repeat(63)}.${'d'.repeat(50)}`; // 242 characters
    const names = searchListNames(long, { namespace: 'ns', clusterDomain: 'cluster.local', extra: [] });
    expect(names[0]).toBe(long);
    for (const n of names) expect(n.length).toBeLessThanOrEqual(253);
    expect(names).not.toContain(`${long}.ns.svc.cluster.local`);
  });
});

describe('one idea of "internal", shared with serve', () => {
  test('an internal name without a peer is allowed by name, with no BAA', () => {
    const r = run([billing]);
    expect(fqdnNames(specOf(r, 'billing-agent'))).toContain('fhir.hospital.internal');
    expect(r.findings.filter((f) => JSON.stringify(f).includes('fhir.hospital.internal'))).toEqual([]);
  });

  test('with --internal-domains that leave .internal out, it needs a BAA: an error finding, not a silent drop', () => {
    const r = run([billing], { internalDomains: ['.svc.cluster.local', '.svc'] });
    expect(fqdnNames(specOf(r, 'billing-agent'))).not.toContain('fhir.hospital.internal');
    expect(r.findings).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        code: 'egress-not-covered-by-baa',
        evidence: expect.objectContaining({ host: 'fhir.hospital.internal', port: 8080 }),
      }),
    );
  });

  test.each([
    'fhir.hospital.internal',
    'fhir-server',
    'printer.local',
    'db.localdomain',
    'contoso-health.openai.azure.com',
    'hospital.internal.example',
  ])("%s: the generator's default reads it as the egress lane does", (host) => {
    const env: Envelope = {
      ...billing,
      spec: {
        ...billing.spec,
        dnsNames: [],
        egress: [{ host, port: 8443, protocol: 'TCP', transports: ['tls'], methods: [], paths: [], count: 1 }],
      },
    };
    const r = run([env], { registry: undefined });
    const allowedWithoutBaa = fqdnNames(specOf(r, 'billing-agent')).includes(host);
    const inCluster = !host.includes('.');
    // The egress lane's reading, from the same function and the same default serve uses.
    expect(allowedWithoutBaa || inCluster).toBe(isInternalName(host, DEFAULT_INTERNAL_SUFFIXES));
  });

  test.each([
    ['10.8.9.4', '10.8.9.4/32'],
    ['0x0A080904', '10.8.9.4/32'],
    ['[fd00:10::4]', 'fd00:10::4/128'],
  ])(
    'IP literal %s: inside --internal-cidrs it is allowed to that address alone; outside, an error finding',
    (host, cidr) => {
      const env: Envelope = {
        ...billing,
        spec: {
          ...billing.spec,
          dnsNames: [],
          egress: [{ host, port: 8080, protocol: 'TCP', transports: ['tls'], methods: [], paths: [], count: 1 }],
        },
      };
      const inside = run([env], { registry: undefined, internalCidrs: ['10.0.0.0/8', 'fd00:10::/64'] });
      const rules = specOf(inside, 'billing-agent').egress ?? [];
      expect(rules).toContainEqual(
        expect.objectContaining({ toCIDRSet: [{ cidr }], toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }] }),
      );
      expect(inside.findings.filter((f) => f.severity === 'error')).toEqual([]);
      const outside = run([env], { registry: undefined });
      expect(JSON.stringify(specOf(outside, 'billing-agent').egress ?? [])).not.toContain(cidr);
      expect(outside.findings).toContainEqual(
        expect.objectContaining({ severity: 'error', code: 'egress-to-ip-literal' }),
      );
    },
  );

  test('a metadata address inside --internal-cidrs stays denied, never allowed', () => {
    const env: Envelope = {
      ...billing,
      spec: {
        ...billing.spec,
        dnsNames: [],
        egress: [
          {
            host: '169.254.169.254',
            port: 80,
            protocol: 'TCP',
            transports: ['plaintext'],
            methods: [],
            paths: [],
            count: 1,
          },
        ],
      },
    };
    const spec = specOf(run([env], { registry: undefined, internalCidrs: ['169.254.0.0/16'] }), 'billing-agent');
    expect(JSON.stringify(spec.egress ?? [])).not.toContain('169.254.169.254');
    expect(spec.egressDeny).toContainEqual({ toCIDRSet: expect.arrayContaining([{ cidr: '169.254.169.254/32' }]) });
  });

  test('an in-cluster name without a recorded peer is an error finding (toFQDNs cannot select pods)', () => {
    expect(run([billing]).findings).toContainEqual(
      expect.objectContaining({
        severity: 'error',
        code: 'in-cluster-peer-unknown',
        evidence: expect.objectContaining({ host: 'reports.billing.svc.cluster.local' }),
      }),
    );
  });
});

describe('TLS or plaintext: HTTP rules only where the wire is plaintext', () => {
  const base = { host: 'h.example', protocol: 'TCP' as const, methods: ['GET'], paths: ['/x'], count: 1 };
  test.each([
    ['plaintext on 8080 outside the mesh', ['plaintext'], 8080, false, 'http'],
    ['plaintext on 443 (TLS originated after the check point)', ['plaintext'], 443, false, 'l4'],
    ['plaintext on 8443', ['plaintext'], 8443, false, 'l4'],
    ['plaintext from a sidecar (mTLS or originated TLS)', ['plaintext'], 8080, true, 'l4'],
    ['TLS to a DNS name', ['tls'], 443, false, 'sni'],
    ['TLS in the mesh to a DNS name', ['tls'], 443, true, 'sni'],
    ['both transports', ['tls', 'plaintext'], 8080, false, 'l4'],
    ['no transport recorded', [], 8080, false, 'l4'],
  ] as const)('%s: %s', (_n, transports, port, mesh, kind) => {
    const c = chooseL7({ ...base, transports: [...transports], port }, { mesh, sniName: 'h.example' });
    expect(c.kind).toBe(kind);
    expect(c.reason).toMatch(kind === 'http' ? /^L7 HTTP: / : /^L4/);
  });

  test('the issue case: plaintext recorded toward :443 gets no rules.http, and the annotation says why', () => {
    const r = run([billing]);
    const spec = specOf(r, 'billing-agent');
    const contoso = (spec.egress ?? []).find((x) => JSON.stringify(x.toFQDNs ?? []).includes('contoso'));
    expect(contoso?.toPorts).toEqual([{ ports: [{ port: '443', protocol: 'TCP' }] }]);
    expect(annotations(r, 'billing-agent')['phiguard.io/rules']).toMatch(
      /contoso-health\.openai\.azure\.com:443 .*L4: port 443 carries TLS by convention/,
    );
    // Plaintext to the internal FHIR server on 8080, outside the mesh: L7 HTTP, and said so.
    expect(httpRules(spec)).toEqual([{ method: 'GET', path: '^/fhir/Patient/[^/?]+(\\?.*)?$' }]);
    expect(annotations(r, 'billing-agent')['phiguard.io/rules']).toMatch(/fhir\.hospital\.internal:8080 .*L7 HTTP/);
  });

  test('no generated policy anywhere has HTTP rules on 443 or 8443', () => {
    for (const r of [run(examples), run(fixtures), run([...examples, ...fixtures], { mesh: 'none' })])
      for (const p of r.policies)
        for (const rule of (p.policy['spec'] as Spec).egress ?? [])
          for (const tp of rule.toPorts ?? [])
            if (tp.rules?.http) for (const pt of tp.ports) expect(['443', '8443']).not.toContain(pt.port);
  });
});

describe('Istio sidecars', () => {
  const istiodRule = {
    toEndpoints: [{ matchLabels: { 'k8s:app': 'istiod', 'k8s:io.kubernetes.pod.namespace': 'istio-system' } }],
    toPorts: [{ ports: [{ port: '15012', protocol: 'TCP' }] }],
  };
  test.each([
    ['the injection label', triage, {}, true],
    ['a SPIFFE principal (the example agents)', examples[0] as Envelope, {}, true],
    ['neither', billing, {}, false],
    ['--mesh istio', billing, { mesh: 'istio' as const }, true],
    ['--mesh none', triage, { mesh: 'none' as const }, false],
  ])('%s: istiod on 15012 %s', (_n, env, extra, mesh) => {
    const r = run([env], extra);
    const name = env.spec.workload.name;
    const spec = specOf(r, name);
    if (mesh) {
      expect(spec.egress).toContainEqual(istiodRule);
      expect(dnsOf(spec)).toContain('istiod.istio-system.svc');
      expect(httpRules(spec)).toEqual([]);
    } else expect(spec.egress).not.toContainEqual(istiodRule);
    expect(annotations(r, name)['phiguard.io/mesh']).toBe(mesh ? 'istio' : 'none');
  });

  test('a revisioned istiod from --istiod', () => {
    const spec = specOf(
      run([triage], {
        istiod: {
          selector: { namespace: 'istio-system', labels: { app: 'istiod', 'istio.io/rev': 'canary' } },
          host: 'istiod-canary.istio-system.svc',
        },
      }),
      'triage-bot',
    );
    expect(spec.egress).toContainEqual({
      toEndpoints: [
        {
          matchLabels: {
            'k8s:app': 'istiod',
            'k8s:io.kubernetes.pod.namespace': 'istio-system',
            'k8s:istio.io/rev': 'canary',
          },
        },
      ],
      toPorts: [{ ports: [{ port: '15012', protocol: 'TCP' }] }],
    });
    expect(dnsOf(spec)).toContain('istiod-canary.istio-system.svc');
  });
});

describe('egress gateway mode', () => {
  const gw = { selector: { namespace: 'istio-system', labels: { istio: 'egressgateway' } }, ports: [8080, 8443] };
  test.each(examples.map((e) => [e.spec.workload.name, e] as const))(
    '%s: no toFQDNs to the Internet, outside traffic only to the gateway pods',
    (name, env) => {
      const r = run([env], { egressGateway: gw });
      const spec = specOf(r, name);
      expect(fqdnNames(spec).filter((n) => !isInternalName(n, DEFAULT_INTERNAL_SUFFIXES))).toEqual([]);
      const outside = env.spec.egress.some((e) => e.peer === undefined);
      const gwRule = {
        toEndpoints: [
          { matchLabels: { 'k8s:io.kubernetes.pod.namespace': 'istio-system', 'k8s:istio': 'egressgateway' } },
        ],
        toPorts: [
          {
            ports: [
              { port: '8080', protocol: 'TCP' },
              { port: '8443', protocol: 'TCP' },
            ],
          },
        ],
      };
      if (outside) expect(spec.egress).toContainEqual(gwRule);
      else expect(spec.egress).not.toContainEqual(gwRule);
      expect(annotations(r, name)['phiguard.io/egress-gateway']).toBe('istio-system/istio=egressgateway');
      expect((spec.egress ?? []).some((x) => JSON.stringify(x).includes('istiod'))).toBe(true); // gateway mode is mesh mode
    },
  );

  test('names still resolve (the sidecar routes by host), and uncovered endpoints are still error findings', () => {
    const r = run([billing], { egressGateway: gw });
    const spec = specOf(r, 'billing-agent');
    expect(dnsOf(spec)).toContain('contoso-health.openai.azure.com');
    expect(fqdnNames(spec)).toEqual(['fhir.hospital.internal']); // internal: direct, as serve treats it
    expect(r.findings.map((f) => [f.severity, f.code])).toContainEqual(['error', 'egress-not-covered-by-baa']);
  });
});

describe('DNS selector and port', () => {
  test('OpenShift: openshift-dns pods on 5353', () => {
    const sel = parsePodSelector('openshift-dns/dns.operator.openshift.io/daemonset-dns=default');
    if ('error' in sel) throw new Error(sel.error);
    const spec = specOf(run([billing], { dnsSelector: sel.value, dnsPort: 5353 }), 'billing-agent');
    const dnsRule = spec.egress?.[0];
    expect(dnsRule?.toEndpoints).toEqual([
      {
        matchLabels: {
          'k8s:dns.operator.openshift.io/daemonset-dns': 'default',
          'k8s:io.kubernetes.pod.namespace': 'openshift-dns',
        },
      },
    ]);
    expect(dnsRule?.toPorts?.[0]?.ports).toEqual([{ port: '5353', protocol: 'ANY' }]);
    expect(JSON.stringify(spec)).not.toContain('kube-dns');
  });

  test.each([
    ['kube-system/k8s-app=kube-dns', { namespace: 'kube-system', labels: { 'k8s-app': 'kube-dns' } }],
    ['openshift-dns', { namespace: 'openshift-dns', labels: {} }],
    ['Bad_NS/x=y', undefined],
    ['ns/novalue', undefined],
  ])('parses %s', (text, want) => {
    const r = parsePodSelector(text);
    if (want === undefined) expect(r).toHaveProperty('error');
    else expect(r).toEqual({ value: want });
  });
});

describe('ingress from recorded callers (--ingress)', () => {
  test('the scribe admits the triage bot, which recorded calling it, on the recorded port only', () => {
    const r = run([...examples, triage], { ingress: true });
    const spec = specOf(r, 'ambient-scribe');
    expect(spec.enableDefaultDeny).toEqual({ egress: true, ingress: true });
    expect(spec.ingress).toEqual([
      {
        fromEndpoints: [
          {
            matchLabels: {
              'app.kubernetes.io/name': 'triage-bot',
              'k8s:io.kubernetes.pod.namespace': 'triage',
              'sidecar.istio.io/inject': 'true',
            },
          },
        ],
        toPorts: [{ ports: [{ port: '8080', protocol: 'TCP' }] }],
      },
    ]);
  });

  test('a workload nobody recorded calling gets all ingress denied, and a warning says so', () => {
    const r = run([...examples, triage], { ingress: true });
    expect(specOf(r, 'triage-bot').ingress).toEqual([{}]);
    expect(r.findings).toContainEqual(
      expect.objectContaining({ workload: 'triage/triage-bot', code: 'ingress-no-recorded-callers' }),
    );
  });

  test('without the option, ingress is untouched', () => {
    const spec = specOf(run([...examples, triage]), 'ambient-scribe');
    expect(spec.ingress).toBeUndefined();
    expect(spec.enableDefaultDeny.ingress).toBe(false);
  });
});

test('Tencent Cloud metadata (169.254.0.23) is denied with the other metadata addresses', () => {
  for (const p of run(examples).policies)
    expect((p.policy['spec'] as Spec).egressDeny[0]?.toCIDRSet).toContainEqual({ cidr: '169.254.0.23/32' });
});

describe('phiguard generate cilium: exit code', () => {
  const tmp = tempDir();
  afterAll(() => tmp.remove());
  const common = ['--baa', 'examples/baa/registry.yaml', '--at', AT.toISOString()];

  test('the example envelopes: exit 0, no findings, byte-identical to cilium/generated', async () => {
    const out = path.join(tmp.dir, 'examples');
    const gateway = ['--egress-gateway', 'istio-egress/istio=egressgateway'];
    const r = await cli([
      'generate',
      'cilium',
      '--envelopes',
      'examples/envelopes',
      '--out',
      out,
      ...gateway,
      ...common,
    ]);
    expect([r.code, r.err.replace(/^note: .*\n/m, '')]).toEqual([0, '']);
    for (const f of readdirSync('cilium/generated'))
      expect(readFileSync(path.join(out, f), 'utf8')).toBe(readFileSync(path.join('cilium/generated', f), 'utf8'));
  });

  test('an error finding (an uncovered endpoint dropped): exit 1, the policy still written', async () => {
    const out = path.join(tmp.dir, 'billing');
    const r = await cli(['generate', 'cilium', '--envelopes', FIXTURES, '--out', out, ...common]);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/error egress-not-covered-by-baa billing\/billing-agent: api\.payer-b-clearinghouse/);
    expect(r.err).toMatch(/error finding\(s\)/);
    expect(readdirSync(out).sort()).toEqual(['billing.phiguard-billing-agent.yaml', 'triage.phiguard-triage-bot.yaml']);
  });

  test.each([
    [['--dns-port', '5353'], /--dns-port 5353 needs --dns-selector/],
    [['--egress-gateway', 'istio-system'], /give the pods' labels/],
    [['--egress-gateway', 'istio-system/istio=egressgateway', '--mesh', 'none'], /cannot be used with --mesh none/],
    [['--egress-gateway-ports', '443'], /needs --egress-gateway/],
    [['--internal-domains', 'hospital.internal'], /--internal-domains/],
    [['--dns-port', '0', '--dns-selector', 'kube-system'], /--dns-port/],
  ])('usage error %j: exit 2', async (flags, message) => {
    const r = await cli([
      'generate',
      'cilium',
      '--envelopes',
      'examples/envelopes',
      '--out',
      path.join(tmp.dir, 'x'),
      ...common,
      ...flags,
    ]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });

  test('OpenShift flags together: exit 0, the policy uses openshift-dns on 5353', async () => {
    const out = path.join(tmp.dir, 'openshift');
    const r = await cli([
      'generate',
      'cilium',
      '--envelopes',
      'examples/envelopes',
      '--out',
      out,
      ...common,
      '--dns-port',
      '5353',
      '--dns-selector',
      'openshift-dns/dns.operator.openshift.io/daemonset-dns=default',
    ]);
    expect(r.code).toBe(0);
    const doc = yaml.load(readFileSync(path.join(out, 'cds.phiguard-sepsis-advisor.yaml'), 'utf8'));
    expect(JSON.stringify(doc)).toContain('"k8s:io.kubernetes.pod.namespace":"openshift-dns"');
    expect(JSON.stringify(doc)).toContain('"port":"5353"');
  });
});

describe('every policy generated above passes the Cilium v1.19.4 CRD schema, unknown fields and import rules', () => {
  const dir = sharedDir('cilium');
  const validators: Record<string, CrdValidator> = dir
    ? { CiliumNetworkPolicy: loadCrdValidator(path.join(dir, 'ciliumnetworkpolicies.crd.yaml')) }
    : {};
  testWhenShared(dir, 'CRD validation of the generated policies')('all valid', () => {
    expect(generated.length).toBeGreaterThan(30);
    for (const [name, doc] of generated) expect([name, validateCiliumPolicy(doc, validators)]).toEqual([name, []]);
  });
});
