/**
 * The envelope recorder, the Cilium generator and `phiguard check` read hosts and addresses as the egress lane does
 * (authz/egress/canonical-host.ts): a recorded `0xA9FEA9FE` is the metadata service, `2852039166` is no DNS name,
 * and an egressDeny block in another spelling denies its metadata entry.
 */
import { describe, expect, test } from '@jest/globals';
import {
  CheckInputSchema,
  ClaimsConfigSchema,
  createAuthorizer,
  createClaimsResolver,
  createEnvelopeRecorder,
  policyOnlySnapshot,
  readEnvelopes,
  readPolicyDir,
  type Envelope,
  type EnvelopeEgress,
} from '../../authz/index.js';
import { readBaaRegistry } from '../../authz/egress/index.js';
import { parseManifestText, runCheck } from '../../generator/check/index.js';
import { generateCilium } from '../../generator/cilium/index.js';
import { mergeAll } from '../../generator/envelope/index.js';

const AT = new Date('2026-11-25T00:00:00Z');

describe('the envelope recorder records the canonical host', () => {
  const loaded = readPolicyDir('examples/policies');
  if (!loaded.ok) throw new Error('examples/policies did not load');
  const set = loaded.value.set;
  const authorizer = createAuthorizer({
    snapshot: () => policyOnlySnapshot(set),
    claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
    fhirBasePaths: ['/fhir'],
  });

  test.each([
    ['FHIR.Hospital.Internal.:8080', undefined, 'fhir.hospital.internal'],
    ['0xa9fea9fe', undefined, '169.254.169.254'],
    ['[0:0:0:0:0:FFFF:A9FE:A9FE]:80', undefined, '::ffff:169.254.169.254'],
    ['[FD00:EC2:0::254%25eth0]', undefined, 'fd00:ec2::254'],
    ['', '::FFFF:10.1.1.1', '::ffff:10.1.1.1'],
    ['', undefined, 'unknown'],
  ])('authority %s, destination %s: %s', async (host, destination, recorded) => {
    const input = CheckInputSchema.parse({
      attributes: {
        source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' },
        ...(destination ? { destination: { address: { socket_address: { address: destination } } } } : {}),
        request: { http: { method: 'GET', path: '/fhir/Encounter?patient=p-1', host, scheme: 'http', headers: {} } },
      },
    });
    const { attributes, decision } = await authorizer.authorize(input);
    const recorder = createEnvelopeRecorder({
      dir: '/nonexistent',
      replica: 'r',
      flushMs: 60_000,
      workloadFor: () => ({
        kind: 'Deployment',
        name: 'w',
        namespace: 'n',
        serviceAccount: 'sa',
        principal: '',
        podLabels: {},
      }),
    });
    // Recorded as allowed traffic whatever was decided: this test is about the host the envelope names.
    recorder.observe(attributes, { ...decision, outcome: 'allow', agent: 'ambient-scribe' });
    recorder.close();
    expect(recorder.snapshot()[0]?.spec.egress.map((e) => e.host)).toEqual([recorded]);
  });
});

describe('generate cilium reads recorded hosts canonically', () => {
  const reg = readBaaRegistry('examples/baa/registry.yaml');
  if (!reg.ok) throw reg.error;
  const registry = reg.value;
  const scribe = readEnvelopes('examples/envelopes')
    .flatMap((r) => (r.ok ? [r.value.envelope] : []))
    .filter((e) => e.spec.workload.name === 'ambient-scribe');
  const merged = mergeAll(scribe);
  if (!merged.ok) throw merged.error;
  const base: Envelope = merged.value;
  const egress = (host: string, port = 80): EnvelopeEgress => ({
    host,
    port,
    protocol: 'TCP',
    transports: ['plaintext'],
    methods: ['GET'],
    paths: ['/latest/meta-data/'],
    count: 1,
  });
  const generate = (hosts: readonly string[], allowMetadata: readonly string[] = []) =>
    generateCilium([{ ...base, spec: { ...base.spec, egress: hosts.map((h) => egress(h)) } }], {
      registry,
      at: AT,
      allowMetadata,
    });

  test.each([
    '0xA9FEA9FE',
    '2852039166',
    '169.16689662',
    '[::ffff:a9fe:a9fe]',
    '0:0:0:0:0:ffff:a9fe:a9fe',
    '64:ff9b::a9fe:a9fe',
    'FD00:EC2:0:0:0:0:0:254',
    'METADATA.GOOGLE.INTERNAL.',
    'Instance-Data.',
  ])('%s is a cloud metadata endpoint: a finding, never an allow rule', (host) => {
    const r = generate([host]);
    expect(r.findings.map((f) => f.code)).toEqual(['egress-to-metadata-endpoint']);
    const spec = r.policies[0]?.policy['spec'] as { egress?: unknown[] };
    expect(JSON.stringify(spec.egress ?? [])).not.toMatch(/toFQDNs|toCIDR"/);
  });

  test('an IP literal in any spelling is no DNS name', () => {
    const r = generate(['167772165']); // 10.0.0.5
    expect(r.findings.map((f) => [f.code, f.message])).toEqual([
      ['egress-to-ip-literal', 'outside destination 10.0.0.5 has no DNS name; FQDN policy cannot cover it'],
    ]);
  });

  test('KUBERNETES.DEFAULT.SVC. is the API server', () => {
    expect(generate(['KUBERNETES.DEFAULT.SVC.']).findings.map((f) => f.code)).toEqual(['egress-to-kube-apiserver']);
  });

  test('an explicit exception is honoured for its endpoint in any spelling, by its cited block', () => {
    const r = generate(['[::ffff:169.254.170.23]'], ['eks-pod-identity']);
    const spec = r.policies[0]?.policy['spec'] as { egress: unknown[] };
    expect(spec.egress).toContainEqual({
      toCIDR: ['169.254.170.23/32'],
      toPorts: [{ ports: [{ port: '80', protocol: 'TCP' }] }],
    });
  });
});

describe('phiguard check CIL002 reads egressDeny blocks in any spelling', () => {
  const agent = `apiVersion: apps/v1
kind: Deployment
metadata: { name: ambient-scribe, namespace: scribe }
spec:
  template:
    metadata:
      labels: { app.kubernetes.io/name: ambient-scribe, phiguard.io/agent: "true" }
    spec:
      serviceAccountName: ambient-scribe
      automountServiceAccountToken: false
      containers: [{ name: c, image: x }]
`;
  const cnp = (cidrs: readonly string[]) => `apiVersion: cilium.io/v2
kind: CiliumNetworkPolicy
metadata: { name: phiguard-ambient-scribe, namespace: scribe }
spec:
  endpointSelector: { matchLabels: { app.kubernetes.io/name: ambient-scribe } }
  enableDefaultDeny: { egress: true, ingress: false }
  egressDeny:
    - toCIDRSet: [${cidrs.map((c) => `{ cidr: "${c}" }`).join(', ')}]
    - toEntities: [kube-apiserver]
`;
  const cil002 = (cidrs: readonly string[]) => {
    const { docs, problems } = parseManifestText(`${agent}---\n${cnp(cidrs)}`, 'fixture.yaml');
    expect(problems).toEqual([]);
    return runCheck(docs).filter((f) => f.code === 'CIL002');
  };
  const spelled = [
    '169.254.0.0/16', // holds 169.254.169.254, 169.254.170.2, 169.254.170.23
    'FD00:0EC2:0:0:0:0:0:0254/128',
    'fd00:ec2:0::23/128',
    'fd20:ce::254/128',
    '168.63.129.16/32',
    'fd00:c1::169.254.169.254/128',
    '100.100.100.200/32',
  ];

  test('every metadata entry denied, in other spellings and by a wider block: no finding', () => {
    expect(cil002(spelled)).toEqual([]);
  });

  test('an entry left out is named', () => {
    const f = cil002(spelled.filter((c) => !c.startsWith('fd20')));
    expect(f.map((x) => x.message)).toEqual([expect.stringContaining('fd20:ce::254/128 (gcp)')]);
  });
});
