/**
 * Generator scale: N workloads × 100 endpoints each, for N and 2N in one run; prints the times and their ratio
 * (linear growth means ≈ 2.0). Stages: generate, YAML, import-rule validation, and CRD-schema + unknown-field
 * validation when ../shared/cilium is present (or BENCH_CILIUM_CRD points at a CRD).
 * Usage: npx tsx bench/generate-scale.ts [N]
 */
import { existsSync } from 'node:fs';
import yaml from 'js-yaml';
import { createBaaRegistry, ENVELOPE_API_VERSION, type Envelope } from '../authz/index.js';
import { checkImportRules, generateCilium, loadCrdValidator } from '../generator/cilium/index.js';

const N = Number(process.argv[2] ?? '1000');
const ENDPOINTS = 100;
const crdPath = process.env['BENCH_CILIUM_CRD'] ?? '../shared/cilium/ciliumnetworkpolicies.crd.yaml';
const validator = existsSync(crdPath) ? loadCrdValidator(crdPath) : undefined;

const registry = createBaaRegistry(
  {
    apiVersion: 'phiguard.io/v1alpha1',
    kind: 'BAARegistry',
    metadata: { name: 'scale' },
    spec: {
      vendors: Array.from({ length: 200 }, (_, i) => ({
        name: `v${i}`,
        agreementId: `BAA-${i}`,
        status: 'active' as const,
        effective: '2025-01-01',
        endpoints: [{ host: `api.vendor${i}.example`, ports: [443] }],
      })),
    },
  },
  'scale',
);

function envelopes(n: number): Envelope[] {
  return Array.from({ length: n }, (_, w) => ({
    apiVersion: ENVELOPE_API_VERSION,
    kind: 'Envelope',
    metadata: { name: `agent-${w}`, namespace: `ns-${w % 50}` },
    spec: {
      workload: {
        kind: 'Deployment',
        name: `agent-${w}`,
        namespace: `ns-${w % 50}`,
        serviceAccount: `agent-${w}`,
        principal: '',
        podLabels: { app: `agent-${w}` },
      },
      observation: {
        start: '2026-11-16T00:00:00.000Z',
        end: '2026-11-23T00:00:00.000Z',
        sources: ['scale'],
        requests: 1000,
      },
      fhir: [],
      minutes: {},
      patientsHourly: {},
      dnsNames: [],
      breakGlass: {},
      egress: Array.from({ length: ENDPOINTS }, (_, i) =>
        i < 60
          ? {
              host: `api.vendor${(w + i) % 250}.example`,
              port: 443,
              protocol: 'TCP' as const,
              transports: ['tls' as const],
              methods: [],
              paths: [],
              count: 10,
            }
          : {
              host: `svc${i}.ns-${i % 7}.svc.cluster.local`,
              port: 8080,
              protocol: 'TCP' as const,
              transports: ['plaintext' as const],
              methods: ['GET', 'POST'],
              paths: ['/api/items', '/api/items/{id}'],
              count: 10,
              peer: { namespace: `ns-${i % 7}`, serviceAccount: `svc${i}`, labels: {} },
            },
      ),
    },
  }));
}

interface Run {
  ms: number;
  stages: Record<string, number>;
  policies: number;
  findings: number;
  bytes: number;
}

function run(n: number): Run {
  const envs = envelopes(n);
  const stages: Record<string, number> = { generate: 0, yaml: 0, rules: 0, schema: 0 };
  const lap = (name: string, t: bigint): bigint => {
    const now = process.hrtime.bigint();
    stages[name] = (stages[name] ?? 0) + Number(now - t) / 1e6;
    return now;
  };
  const t0 = process.hrtime.bigint();
  let t = t0;
  const r = generateCilium(envs, { registry, at: new Date('2026-11-25T00:00:00Z') });
  t = lap('generate', t);
  let bytes = 0;
  for (const p of r.policies) {
    bytes += yaml.dump(p.policy, { lineWidth: 200, noRefs: true, quotingType: '"' }).length;
    t = lap('yaml', t);
    if (checkImportRules(p.policy).length > 0) throw new Error('invalid');
    t = lap('rules', t);
    if (validator && validator.validate(p.policy).length > 0) throw new Error('schema-invalid');
    t = lap('schema', t);
  }
  return {
    ms: Number(process.hrtime.bigint() - t0) / 1e6,
    stages,
    policies: r.policies.length,
    findings: r.findings.length,
    bytes,
  };
}

const fmt = (r: Run): string =>
  Object.entries(r.stages)
    .map(([k, v]) => `${k} ${v.toFixed(0)}`)
    .join(', ');

run(50); // warm-up
const a = run(N);
const b = run(2 * N);
process.stdout.write(
  `generate cilium scale (${ENDPOINTS} endpoints per workload; ${validator ? 'with' : 'without'} CRD-schema validation)\n`,
);
process.stdout.write(
  `  N=${N}: ${a.ms.toFixed(0)} ms (${fmt(a)}), ${a.policies} policies, ${(a.bytes / 1e6).toFixed(1)} MB YAML, ${a.findings} findings\n`,
);
process.stdout.write(
  `  2N=${2 * N}: ${b.ms.toFixed(0)} ms (${fmt(b)}), ${b.policies} policies, ${(b.bytes / 1e6).toFixed(1)} MB YAML\n`,
);
process.stdout.write(`  ratio 2N/N: ${(b.ms / a.ms).toFixed(2)} (2.00 = linear)\n`);
