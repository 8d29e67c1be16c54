/**
 * deploy/rbac grants exactly what each use needs. Every object validates with kubernetes-models. Each use is run
 * against the loopback API server (serve's policy source and containment store, apply with and without a dry run,
 * discover, check --cluster writing PolicyReports, contain lift --cluster), and the requests it sent are checked
 * against the roles bound to that use's service account with RBAC's rule semantics
 * (https://kubernetes.io/docs/reference/access-authn-authz/rbac/): every request is allowed, and every verb on every
 * resource a rule grants was used. Discovery paths are non-resource URLs every authenticated user may read
 * (system:discovery) and are left out. A server-side apply that creates its object needs create as well as patch.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect } from '@jest/globals';
import { parse, parseAllDocuments } from 'yaml';
import { loadKubeConfig, startClusterContainmentStore, startClusterPolicySource } from '../../authz/kube/index.js';
import { cli } from '../helpers/cli.js';
import type { KubeApiServer, RecordedRequest } from '../helpers/kube-api-server.js';
import { startCluster } from '../helpers/kube-cluster.js';
import { builtinResource, crdResource } from '../helpers/kube-schemas.js';
import { sharedDir, testWhenShared } from '../helpers/shared.js';
import { tempDir } from '../helpers/temp.js';

const RBAC = 'deploy/rbac';
const cilium = sharedDir('cilium');
const it = testWhenShared(cilium, 'RBAC replay against the Cilium CRD');
const t = tempDir();
let api: KubeApiServer | undefined;

interface Obj {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  rules?: Array<{ apiGroups: string[]; resources: string[]; verbs: string[]; resourceNames?: string[] }>;
  roleRef?: { kind: string; name: string };
  subjects?: Array<{ kind: string; name: string; namespace?: string }>;
}

const objects: Obj[] = (
  parse(readFileSync(path.join(RBAC, 'kustomization.yaml'), 'utf8')) as { resources: string[] }
).resources.flatMap((f) => parseAllDocuments(readFileSync(path.join(RBAC, f), 'utf8')).map((d) => d.toJS() as Obj));

interface Attr {
  verb: string;
  group: string;
  resource: string;
  namespace: string | undefined;
  name: string | undefined;
}

/** The RBAC attributes of a recorded request (undefined for discovery), as the API server derives them. */
function attributes(r: RecordedRequest): Attr[] {
  const m = /^\/(?:api\/v1|apis\/([^/]+)\/[^/]+)\/(.+)$/.exec(r.path);
  if (!m) return [];
  const segs = (m[2] ?? '').split('/');
  let namespace: string | undefined;
  if (segs[0] === 'namespaces' && segs.length >= 3) {
    namespace = segs[1];
    segs.splice(0, 2);
  }
  const [plural, name, sub] = segs;
  const resource = sub ? `${plural ?? ''}/${sub}` : (plural ?? '');
  const watch = r.query.get('watch') === 'true' || r.query.get('watch') === '1';
  const verb =
    r.method === 'GET'
      ? name === undefined
        ? watch
          ? 'watch'
          : 'list'
        : 'get'
      : r.method === 'POST'
        ? 'create'
        : r.method.toLowerCase();
  const base = { group: m[1] ?? '', resource, namespace, name };
  return r.method === 'PATCH' && r.status === 201
    ? [
        { ...base, verb },
        { ...base, verb: 'create' },
      ]
    : [{ ...base, verb }];
}

/** The rules reaching a service account: Roles through RoleBindings in their namespace, ClusterRoles everywhere. */
function rulesOf(
  account: string | { role: string; namespace: string },
): Array<{ rule: NonNullable<Obj['rules']>[number]; namespace?: string; role: string }> {
  if (typeof account !== 'string') {
    const role = objects.find((o) => o.kind === 'Role' && o.metadata.name === account.role);
    return (role?.rules ?? []).map((rule) => ({ rule, namespace: account.namespace, role: account.role }));
  }
  const [ns, name] = account.split('/');
  return objects
    .filter(
      (b) =>
        (b.kind === 'RoleBinding' || b.kind === 'ClusterRoleBinding') &&
        (b.subjects ?? []).some((s) => s.kind === 'ServiceAccount' && s.name === name && s.namespace === ns),
    )
    .flatMap((b) => {
      const role = objects.find((o) => o.kind === b.roleRef?.kind && o.metadata.name === b.roleRef.name);
      const namespace = b.kind === 'RoleBinding' ? b.metadata.namespace : undefined;
      return (role?.rules ?? []).map((rule) => ({
        rule,
        ...(namespace ? { namespace } : {}),
        role: role?.metadata.name ?? '',
      }));
    });
}

function check(account: Parameters<typeof rulesOf>[0], requests: readonly RecordedRequest[]): void {
  const rules = rulesOf(account);
  expect(rules.length).toBeGreaterThan(0);
  const attrs = requests.flatMap(attributes);
  expect(attrs.length).toBeGreaterThan(0);
  const used = new Set<string>();
  const denied: string[] = [];
  for (const a of attrs) {
    const hit = rules.find(
      ({ rule, namespace }) =>
        (namespace === undefined || namespace === a.namespace) &&
        rule.apiGroups.includes(a.group) &&
        rule.resources.includes(a.resource) &&
        rule.verbs.includes(a.verb) &&
        (rule.resourceNames === undefined || (a.name !== undefined && rule.resourceNames.includes(a.name))),
    );
    if (!hit) denied.push(`${a.verb} ${a.group}/${a.resource} ${a.namespace ?? '*'}/${a.name ?? ''}`);
    else used.add(`${hit.role} ${a.group}/${a.resource} ${a.verb}`);
  }
  expect(denied).toEqual([]);
  const granted = rules.flatMap(({ rule, role }) =>
    rule.apiGroups.flatMap((g) => rule.resources.flatMap((r) => rule.verbs.map((v) => `${role} ${g}/${r} ${v}`))),
  );
  expect(granted.filter((g) => !used.has(g))).toEqual([]);
}

/** The requests `run` sends. */
async function sent(run: () => Promise<unknown>): Promise<RecordedRequest[]> {
  const from = api?.requests.length ?? 0;
  await run();
  return api?.requests.slice(from) ?? [];
}

beforeAll(async () => {
  if (cilium === undefined) return;
  const policyReport = crdResource(
    parse(readFileSync('test/kube/fixtures/wgpolicyk8s-policyreport-v1alpha2.crd.yaml', 'utf8')),
  );
  api = await startCluster(t.dir, cilium, 'test/kube/fixtures/discover/cluster.yaml', [policyReport]);
});
afterAll(async () => {
  await api?.close();
  t.remove();
});

describe('deploy/rbac', () => {
  it('every object is a valid Kubernetes object (kubernetes-models)', async () => {
    expect(objects.length).toBeGreaterThan(10);
    for (const o of objects) {
      const r = await builtinResource(o.apiVersion, o.kind, '', true);
      expect([o.metadata.name, r.validate?.(o)]).toEqual([o.metadata.name, []]);
    }
  });

  it('serve --policies-from cluster and containment through the API: phiguard-system/phiguard', async () => {
    const kc = loadKubeConfig(api?.kubeconfig ?? '');
    const requests = await sent(async () => {
      const source = await startClusterPolicySource({ kc, namespaces: undefined });
      if (!source.ok) throw source.error;
      const store = source.value.open({});
      const containment = await startClusterContainmentStore({ kc, namespace: 'phiguard-system' });
      const entry = (decisionId: string): Parameters<typeof containment.enter>[0] => ({
        agent: 'pa-bot',
        action: 'stop',
        trigger: 'baa-violation',
        since: new Date().toISOString(),
        until: new Date(Date.now() + 60_000).toISOString(),
        decisionId,
        replica: 'r1',
      });
      containment.enter(entry('d1'), () => []);
      await new Promise((r) => setTimeout(r, 300));
      containment.enter(entry('d2'), () => []);
      await new Promise((r) => setTimeout(r, 300));
      containment.close();
      if (store.ok) store.value.close?.();
      source.value.close();
    });
    check('phiguard-system/phiguard', requests);
  });

  it('apply: phiguard-system/phiguard-apply', async () => {
    const out = path.join(t.dir, 'cnp');
    const g = await cli([
      'generate',
      'cilium',
      '--envelopes',
      'examples/envelopes',
      '--out',
      out,
      '--baa',
      'examples/baa/registry.yaml',
    ]);
    expect(g.code).toBe(0);
    const requests = await sent(async () => {
      for (const extra of [['--dry-run=server'], []]) {
        const r = await cli([
          'apply',
          out,
          'examples/policies/ambient-scribe.yaml',
          'test/kube/fixtures/rbac/clusterwide.ccnp.yaml',
          '--kubeconfig',
          api?.kubeconfig ?? '',
          ...extra,
        ]);
        expect(r.code).toBe(0);
      }
    });
    check('phiguard-system/phiguard-apply', requests);
  });

  it('discover: phiguard-system/phiguard-discover', async () => {
    const requests = await sent(async () => {
      expect((await cli(['discover', '--kubeconfig', api?.kubeconfig ?? ''])).code).toBe(0);
    });
    check('phiguard-system/phiguard-discover', requests);
  });

  it('check --cluster: phiguard-system/phiguard-check', async () => {
    api?.put({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'istio', namespace: 'istio-system' },
      data: { mesh: '{}' },
    });
    const requests = await sent(async () => {
      expect((await cli(['check', '--cluster', '--kubeconfig', api?.kubeconfig ?? ''])).code).toBe(1);
    });
    check('phiguard-system/phiguard-check', requests);
  });

  it('contain lift --cluster: the phiguard-contain-lift Role', async () => {
    const requests = await sent(async () => {
      const r = await cli([
        'contain',
        'lift',
        'pa-bot',
        '--cluster',
        'phiguard-system',
        '--kubeconfig',
        api?.kubeconfig ?? '',
        '--by',
        'dr-oncall',
        '--reason',
        'reviewed',
      ]);
      expect(r.code).toBe(0);
    });
    check({ role: 'phiguard-contain-lift', namespace: 'phiguard-system' }, requests);
  });
});
