/**
 * `phiguard apply` end to end against the loopback API server: the CiliumNetworkPolicies `generate cilium` writes
 * and an AgentPolicy policy file are server-side applied as field manager `phiguard` (the Cilium CRD from ../shared
 * and the AgentPolicy CRD validate every object sent); `--dry-run=server` stores nothing; the diff names the fields
 * added, changed and removed; what check rejects, a conflict with another manager and a 403 are refused with exit 1
 * and nothing written; a kind phiguard does not generate is a usage error.
 */
import { copyFileSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { parse, stringify } from 'yaml';
import { kubeRequest, loadKubeConfig } from '../../authz/kube/index.js';
import { cli } from '../helpers/cli.js';
import { startKubeApiServer, type KubeApiServer } from '../helpers/kube-api-server.js';
import { crdResource } from '../helpers/kube-schemas.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';

const FIX = 'test/kube/fixtures/apply';
const cilium = sharedDir('cilium');
const t = tempDir();
const out = path.join(t.dir, 'cnp');
const policies = path.join(t.dir, 'policies');
let api: KubeApiServer | undefined;
const it = testWhenShared(cilium, 'phiguard apply against the Cilium CRD');

const readYaml = (f: string): unknown => parse(readFileSync(f, 'utf8'));
const patches = (): number => api?.requests.filter((r) => r.method === 'PATCH').length ?? 0;

beforeAll(async () => {
  if (cilium === undefined) return;
  api = await startKubeApiServer(
    [
      crdResource(readYaml(path.join(cilium, 'ciliumnetworkpolicies.crd.yaml'))),
      crdResource(readYaml(path.join(cilium, 'ciliumclusterwidenetworkpolicies.crd.yaml'))),
      crdResource(readYaml('deploy/crds/agentpolicy.yaml')),
    ],
    t.dir,
  );
  const g = await cli([
    'generate',
    'cilium',
    '--envelopes',
    'examples/envelopes',
    '--out',
    out,
    '--baa',
    'examples/baa/registry.yaml',
    '--cilium-crd',
    path.join(cilium, 'ciliumnetworkpolicies.crd.yaml'),
  ]);
  expect(g.code).toBe(0);
  mkdirSync(policies);
  copyFileSync('examples/policies/ambient-scribe.yaml', path.join(policies, 'ambient-scribe.yaml'));
}, 60_000);
afterAll(async () => {
  await api?.close();
  t.remove();
});

describe('phiguard apply', () => {
  const base = (): string[] => ['--kubeconfig', api?.kubeconfig ?? ''];

  it('--dry-run=server: the API server answers every object with a diff, nothing is stored', async () => {
    const r = await cli(['apply', out, policies, '--dry-run=server', ...base()]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toContain('CiliumNetworkPolicy scribe/phiguard-ambient-scribe: created (server dry run)');
    expect(r.out).toContain('AgentPolicy scribe/ambient-scribe: created (server dry run)');
    expect(r.out).toContain('+ spec.endpointSelector.matchLabels.app.kubernetes.io/name: "ambient-scribe"');
    expect(api?.list('cilium.io/v2', 'CiliumNetworkPolicy')).toHaveLength(0);
    const sent = api?.requests.filter((q) => q.method === 'PATCH') ?? [];
    expect(sent.length).toBe(4);
    for (const q of sent) {
      expect(q.contentType).toBe('application/apply-patch+yaml');
      expect(q.query.get('fieldManager')).toBe('phiguard');
      expect(q.query.get('dryRun')).toBe('All');
    }
  });

  it('applies as field manager phiguard; the policy file becomes the AgentPolicy of its namespace', async () => {
    const r = await cli(['apply', out, policies, ...base()]);
    expect(r.code).toBe(0);
    expect(r.out).toContain('CiliumNetworkPolicy cds/phiguard-sepsis-advisor: created\n');
    const cnp = api?.get('cilium.io/v2', 'CiliumNetworkPolicy', 'scribe', 'phiguard-ambient-scribe');
    expect((cnp?.metadata.managedFields as Array<{ manager: string }>).map((m) => m.manager)).toEqual(['phiguard']);
    const ap = api?.get('phiguard.io/v1alpha1', 'AgentPolicy', 'scribe', 'ambient-scribe');
    expect(ap?.metadata.annotations?.['phiguard.io/description']).toContain('Ambient clinical documentation');
    expect(ap?.metadata['description']).toBeUndefined();
    expect(api?.rejected).toEqual([]);
    const again = await cli(['apply', out, policies, ...base()]);
    expect(again.code).toBe(0);
    expect(again.out.split('\n').filter((l) => l.endsWith(': unchanged'))).toHaveLength(4);
  });

  it('the diff names fields changed and removed; a dry run of a change leaves the cluster as it was', async () => {
    const file = path.join(out, 'scribe.phiguard-ambient-scribe.yaml');
    const doc = readYaml(file) as { spec: { egress: unknown[]; endpointSelector: { matchLabels: object } } };
    doc.spec.endpointSelector.matchLabels = { 'app.kubernetes.io/name': 'scribe-v2' };
    doc.spec.egress = doc.spec.egress.slice(0, 1);
    const changed = path.join(t.dir, 'changed');
    mkdirSync(changed);
    writeFileSync(path.join(changed, 'cnp.yaml'), stringify(doc));
    const dry = await cli(['apply', changed, '--dry-run=server', ...base()]);
    expect(dry.code).toBe(0);
    expect(dry.out).toContain('configured (server dry run)');
    expect(dry.out).toContain(
      '~ spec.endpointSelector.matchLabels.app.kubernetes.io/name: "ambient-scribe" -> "scribe-v2"',
    );
    expect(dry.out).toMatch(/- spec\.egress\[1\]\./);
    const live = api?.get('cilium.io/v2', 'CiliumNetworkPolicy', 'scribe', 'phiguard-ambient-scribe');
    expect((live?.['spec'] as { egress: unknown[] }).egress.length).toBeGreaterThan(1);
    const real = await cli(['apply', changed, ...base()]);
    expect(real.code).toBe(0);
    const after = api?.get('cilium.io/v2', 'CiliumNetworkPolicy', 'scribe', 'phiguard-ambient-scribe');
    expect((after?.['spec'] as { egress: unknown[] }).egress).toHaveLength(1);
  });

  it.each([
    ['a CiliumNetworkPolicy the Cilium agent would reject (CIL012)', 'import-rejected.cnp.yaml', 'CIL012'],
    ['an AgentPolicy that does not compile (PHG001)', 'invalid-cel.policy.yaml', 'PHG001'],
  ])('refuses %s: exit 1 with the findings, nothing sent', async (_what, fixture, code) => {
    const before = patches();
    const r = await cli(['apply', path.join(FIX, fixture), ...base()]);
    expect(r.code).toBe(1);
    expect(r.err).toContain(code);
    expect(r.err).toContain('nothing applied');
    expect(patches()).toBe(before);
  });

  it('a conflict with another field manager: exit 1 and no object of the set written; --force-conflicts takes over', async () => {
    const kc = loadKubeConfig(api?.kubeconfig ?? '');
    const taken = await kubeRequest(
      kc,
      'PATCH',
      '/apis/cilium.io/v2/namespaces/cds/ciliumnetworkpolicies/phiguard-sepsis-advisor',
      {
        query: { fieldManager: 'platform-team', force: 'true' },
        contentType: 'application/apply-patch+yaml',
        body: JSON.stringify({
          apiVersion: 'cilium.io/v2',
          kind: 'CiliumNetworkPolicy',
          metadata: { name: 'phiguard-sepsis-advisor', namespace: 'cds' },
          spec: { description: 'edited by hand' },
        }),
      },
    );
    expect(taken.status).toBe(200);
    api?.remove('phiguard.io/v1alpha1', 'AgentPolicy', 'scribe', 'ambient-scribe');
    const r = await cli(['apply', out, policies, ...base()]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('CiliumNetworkPolicy cds/phiguard-sepsis-advisor: failed (not applied): 409');
    expect(r.out).toContain('conflict with "platform-team"');
    expect(api?.get('phiguard.io/v1alpha1', 'AgentPolicy', 'scribe', 'ambient-scribe')).toBeUndefined();
    const forced = await cli(['apply', out, policies, '--force-conflicts', ...base()]);
    expect(forced.code).toBe(0);
    expect(forced.out).toContain('~ spec.description: "edited by hand" -> "phiguard: egress envelope');
    expect(api?.get('phiguard.io/v1alpha1', 'AgentPolicy', 'scribe', 'ambient-scribe')).toBeDefined();
  });

  it('a 403 on patch: exit 1 naming the permission; a kind phiguard does not generate: exit 2', async () => {
    api?.forbid('patch', 'agentpolicies');
    const r = await cli(['apply', policies, '--dry-run=server', ...base()]);
    expect(r.code).toBe(1);
    expect(r.out).toContain('403');
    expect(r.out).toContain('cannot patch resource "agentpolicies"');
    const u = await cli(['apply', path.join(FIX, 'configmap.yaml'), ...base()]);
    expect(u.code).toBe(2);
    expect(u.err).toContain('v1 ConfigMap is not something phiguard applies');
  });
});
