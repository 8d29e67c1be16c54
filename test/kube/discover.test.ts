/**
 * `phiguard discover` end to end against the loopback API server seeded with test/kube/fixtures/discover/cluster.yaml
 * (every object validated against its schema): agents found by label, by annotation and by an envelope's model-API
 * egress (shadow AI), the RBAC reaching each with check's flags, the AgentPolicy and CiliumNetworkPolicy selecting
 * each, and the effective mTLS mode; a kind the cluster does not serve is a note, unreadable workloads exit 2.
 */
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { cli } from '../helpers/cli.js';
import type { KubeApiServer } from '../helpers/kube-api-server.js';
import { startCluster } from '../helpers/kube-cluster.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';

const cilium = sharedDir('cilium');
const it = testWhenShared(cilium, 'phiguard discover against the Cilium CRD');
const t = tempDir();
let api: KubeApiServer | undefined;

interface Row {
  namespace: string;
  name: string;
  kind: string;
  serviceAccount: string;
  reasons: string[];
  unlabeled: boolean;
  rbac: Array<{ binding: string; role: string; flags: string[] }>;
  agentPolicy?: string;
  ciliumPolicies: string[];
  mtls: { mode: string; from?: string; ports: string[] };
}

beforeAll(async () => {
  if (cilium !== undefined) api = await startCluster(t.dir, cilium, 'test/kube/fixtures/discover/cluster.yaml');
});
afterAll(async () => {
  await api?.close();
  t.remove();
});

describe('phiguard discover', () => {
  const base = (): string[] => ['--kubeconfig', api?.kubeconfig ?? ''];

  it('JSON: each agent with why, RBAC, AgentPolicy, CiliumNetworkPolicy and mTLS', async () => {
    const r = await cli(['discover', '--format', 'json', '--envelopes', 'examples/envelopes', ...base()]);
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    const { workloads, notes } = JSON.parse(r.out) as { workloads: Row[]; notes: string[] };
    expect(notes).toEqual([]);
    const by = new Map(workloads.map((w) => [`${w.namespace}/${w.name}`, w]));
    expect([...by.keys()]).toEqual(['cds/sepsis-advisor', 'prior-auth/pa-bot', 'scribe/ambient-scribe']);

    const pa = by.get('prior-auth/pa-bot');
    expect(pa?.reasons).toEqual(['label phiguard.io/agent=true']);
    expect(pa?.agentPolicy).toBe('prior-auth/pa-bot');
    expect(pa?.ciliumPolicies).toEqual(['prior-auth/phiguard-pa-bot']);
    expect(pa?.rbac).toEqual([
      {
        binding: 'RoleBinding prior-auth/pa-bot-ops',
        role: 'Role prior-auth/pa-bot-ops',
        flags: ['get,list secrets', 'create pods/exec'],
      },
    ]);
    expect(pa?.mtls).toEqual({ mode: 'STRICT', from: 'istio-system/default', ports: [] });

    const sepsis = by.get('cds/sepsis-advisor');
    expect(sepsis?.kind).toBe('StatefulSet');
    expect(sepsis?.reasons).toEqual(['annotation phiguard.io/agent=true']);
    expect(sepsis?.agentPolicy).toBeUndefined();
    expect(sepsis?.ciliumPolicies).toEqual([]);
    expect(sepsis?.rbac[0]?.flags).toEqual(['built-in role cluster-admin']);
    expect(sepsis?.mtls.mode).toBe('PERMISSIVE');

    const scribe = by.get('scribe/ambient-scribe');
    expect(scribe?.unlabeled).toBe(true);
    expect(scribe?.reasons).toEqual(['envelope: calls Azure OpenAI (contoso-health.openai.azure.com)']);
    expect(scribe?.mtls).toEqual({ mode: 'STRICT', from: 'scribe/ambient-scribe', ports: ['8080=PERMISSIVE'] });
  });

  it('the table; without envelopes the unlabeled agent is not found; a namespace filter', async () => {
    const r = await cli(['discover', ...base()]);
    expect(r.code).toBe(0);
    const lines = r.out.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAMESPACE\s+KIND\s+NAME\s+SERVICEACCOUNT\s+AGENTPOLICY\s+CILIUM\s+MTLS\s+RBAC\s+WHY$/);
    expect(lines).toHaveLength(3);
    expect(r.out).toMatch(
      /cds\s+StatefulSet\s+sepsis-advisor\s+sepsis-advisor\s+NONE\s+NONE\s+PERMISSIVE\s+ClusterRole cluster-admin: built-in role cluster-admin/,
    );
    expect(r.out).not.toContain('ambient-scribe');
    const one = await cli(['discover', '-n', 'prior-auth', '--format', 'json', ...base()]);
    expect((JSON.parse(one.out) as { workloads: Row[] }).workloads.map((w) => w.name)).toEqual(['pa-bot']);
  });

  it('a kind the caller may not list is a note; workloads that cannot be listed: exit 2', async () => {
    api?.forbid('list', 'peerauthentications');
    const r = await cli(['discover', '--format', 'json', ...base()]);
    expect(r.code).toBe(0);
    const { workloads, notes } = JSON.parse(r.out) as { workloads: Row[]; notes: string[] };
    expect(notes).toEqual([expect.stringContaining('PeerAuthentication (security.istio.io/v1) not read: 403')]);
    expect(workloads.find((w) => w.name === 'sepsis-advisor')?.mtls.mode).toBe('PERMISSIVE (default)');
    api?.forbid('list', 'deployments');
    api?.forbid('list', 'statefulsets');
    const denied = await cli(['discover', ...base()]);
    expect(denied.code).toBe(2);
    expect(denied.err).toContain('cannot list workloads');
  });
});
