/**
 * Every object of every rendered kustomization against its schema: Kubernetes kinds with kubernetes-models (the
 * Kubernetes OpenAPI schemas), ServiceMonitor and PrometheusRule with @kubernetes-models/prometheus-operator (the
 * operator's CRDs), Istio kinds with @kubernetes-models/istio (Istio's CRDs), CiliumNetworkPolicy with the real
 * Cilium CRD from ../shared/cilium (generator/cilium/validate.ts). No object may go unvalidated, and negative controls
 * show each validator rejects a broken object. Then `phiguard check` on each rendered output: no findings.
 *
 * These schema validators check types, enums, formats and required fields; like the API server without strict field
 * validation, kubernetes-models does not reject an unknown field (the Cilium CRD validator does).
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { loadCrdValidators } from '../../generator/cilium/crd-schema.js';
import { validateCiliumPolicy } from '../../generator/cilium/validate.js';
import { cli } from '../helpers/cli.js';
import { sharedDir } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';
import { KUSTOMIZATIONS, at, nameOf, render, renderText, testWhenKubectl, type Obj } from './render.js';

const ciliumDir = sharedDir('cilium');
const CILIUM_CRDS = ciliumDir
  ? [
      path.join(ciliumDir, 'ciliumnetworkpolicies.crd.yaml'),
      path.join(ciliumDir, 'ciliumclusterwidenetworkpolicies.crd.yaml'),
    ]
  : [];
const ciliumValidators = ciliumDir ? loadCrdValidators(CILIUM_CRDS) : undefined;

interface Model {
  validate(): void;
}
type ModelClass = new (data: Obj) => Model;

/** The module of a kind's model: `<package>/<group>/<version>/<Kind>` (core kinds: `kubernetes-models/v1/<Kind>`). */
function modelModule(apiVersion: string, kind: string): string | undefined {
  const group = apiVersion.includes('/') ? apiVersion.slice(0, apiVersion.indexOf('/')) : '';
  if (group === 'monitoring.coreos.com') return `@kubernetes-models/prometheus-operator/${apiVersion}/${kind}`;
  if (group.endsWith('.istio.io')) return `@kubernetes-models/istio/${apiVersion}/${kind}`;
  if (group === 'cilium.io') return undefined;
  return `kubernetes-models/${apiVersion}/${kind}`;
}

/** Schema errors of one object ([] when valid); throws when no schema is known for its kind. */
async function schemaErrors(doc: Obj): Promise<string[]> {
  const apiVersion = String(doc['apiVersion']);
  const kind = String(doc['kind']);
  if (apiVersion.startsWith('cilium.io/')) {
    if (!ciliumValidators) throw new Error('no Cilium CRD loaded');
    return validateCiliumPolicy(doc, ciliumValidators).map((f) => `${f.path}: ${f.message}`);
  }
  const mod = modelModule(apiVersion, kind);
  const exported = (await import(mod ?? '')) as Record<string, ModelClass | undefined>;
  const Model = exported[kind];
  if (Model === undefined) throw new Error(`${mod ?? ''} exports no ${kind}`);
  try {
    new Model(doc).validate();
    return [];
  } catch (e) {
    return [e instanceof Error ? e.message : String(e)];
  }
}

const RENDERED = KUSTOMIZATIONS.map((k) => [k, render(k)] as const);

describe.each(RENDERED)('%s, rendered', (k, docs) => {
  testWhenKubectl(`${k} renders`)('renders objects, each with apiVersion, kind and name', () => {
    expect(docs.length).toBeGreaterThan(0);
    for (const d of docs) {
      expect(typeof d['apiVersion']).toBe('string');
      expect(typeof d['kind']).toBe('string');
      expect(typeof at(d, 'metadata', 'name')).toBe('string');
    }
  });

  const withCilium = ciliumDir ? testWhenKubectl(`${k} schemas`) : test.skip;
  if (!ciliumDir)
    process.stderr.write(`\n*** SKIPPED ***: ${k}: schema validation needs the Cilium CRDs of ../shared/cilium\n\n`);
  withCilium('every object validates against its Kubernetes or CRD schema', async () => {
    const failures: Record<string, string[]> = {};
    for (const d of docs) {
      const errors = await schemaErrors(d);
      if (errors.length > 0) failures[`${String(d['kind'])}/${nameOf(d)}`] = errors;
    }
    expect(failures).toEqual({});
  });
});

describe('negative controls: each validator rejects a broken object', () => {
  const istio = RENDERED.find(([k]) => k === 'deploy/overlays/istio')?.[1] ?? [];
  const find = (kind: string): Obj => structuredClone(istio.find((d) => d['kind'] === kind) ?? {});
  const cases: Array<[string, string, (d: Obj) => void]> = [
    [
      'Deployment',
      'a containerPort that is not an integer',
      (d) => {
        (at(d, 'spec', 'template', 'spec', 'containers', 0, 'ports', 0) as Obj)['containerPort'] = '9191';
      },
    ],
    [
      'HorizontalPodAutoscaler',
      'no scaleTargetRef',
      (d) => {
        delete (d['spec'] as Obj)['scaleTargetRef'];
      },
    ],
    [
      'Service',
      'a port out of its type',
      (d) => {
        (at(d, 'spec', 'ports', 0) as Obj)['port'] = 'grpc';
      },
    ],
    [
      'PrometheusRule',
      'a rule without expr',
      (d) => {
        delete (at(d, 'spec', 'groups', 0, 'rules', 0) as Obj)['expr'];
      },
    ],
    [
      'ServiceMonitor',
      'endpoints that are not a list',
      (d) => {
        (d['spec'] as Obj)['endpoints'] = { port: 'http-metrics' };
      },
    ],
    [
      'AuthorizationPolicy',
      'an action Istio does not have',
      (d) => {
        (d['spec'] as Obj)['action'] = 'CUSTOMISED';
      },
    ],
    [
      'PeerAuthentication',
      'an mTLS mode Istio does not have',
      (d) => {
        (at(d, 'spec', 'mtls') as Obj)['mode'] = 'STRICTER';
      },
    ],
  ];
  if (ciliumDir)
    cases.push([
      'CiliumNetworkPolicy',
      'a field Cilium does not know',
      (d) => {
        (d['spec'] as Obj)['enableDefaultDenyAll'] = true;
      },
    ]);
  testWhenKubectl('negative controls').each(cases)('%s with %s fails validation', async (kind, _why, mutate) => {
    const d = find(kind);
    expect(await schemaErrors(d)).toEqual([]);
    mutate(d);
    expect((await schemaErrors(d)).length).toBeGreaterThan(0);
  });
});

describe('phiguard check on the rendered package', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const crds = CILIUM_CRDS.flatMap((f) => ['--cilium-crd', f]);

  async function findings(
    inputs: string[],
  ): Promise<{ code: number; findings: Array<{ severity: string; rule?: string }> }> {
    const r = await cli([
      'check',
      ...inputs,
      '--policies',
      'examples/policies',
      '--baa',
      'examples/baa/registry.yaml',
      ...crds,
      '--format',
      'json',
    ]);
    return { code: r.code, findings: (JSON.parse(r.out) as { findings: Array<{ severity: string }> }).findings };
  }

  testWhenKubectl('phiguard check').each(KUSTOMIZATIONS.map((k) => [k]))(
    `%s: no findings${ciliumDir ? ' (Cilium CRD schemas checked)' : ''}`,
    async (k) => {
      const file = path.join(t.dir, `${k.replace(/\//g, '-')}.yaml`);
      writeFileSync(file, renderText(k) ?? '');
      const r = await findings([file]);
      expect(r.findings.filter((f) => f.severity !== 'note')).toEqual([]);
      expect(r.code).toBe(0);
    },
  );

  testWhenKubectl('phiguard check')(
    'the Istio overlay with the example agents and their generated policies: no findings',
    async () => {
      const file = path.join(t.dir, 'istio-cluster.yaml');
      writeFileSync(file, renderText('deploy/overlays/istio') ?? '');
      const r = await findings([file, 'examples/manifests', 'cilium/generated']);
      expect(r.findings.filter((f) => f.severity !== 'note')).toEqual([]);
      expect(r.code).toBe(0);
    },
  );
});
