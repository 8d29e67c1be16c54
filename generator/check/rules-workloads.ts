/** K8S rules (agent workload hygiene) and PHG rules (phiguard's own configuration). */
import { selectAgent } from '../../authz/index.js';
import { arr, isObj, str, type CheckContext, type Rec } from './context.js';

/** Built-in ClusterRoles that can read Secrets or exec into pods (Kubernetes "User-facing roles"). */
export const PRIVILEGED_BUILTIN = new Set(['cluster-admin', 'admin', 'edit']);

/**
 * Permissions that reach Secrets or another identity without a wildcard (Kubernetes RBAC good practices,
 * https://kubernetes.io/docs/concepts/security/rbac-good-practices/): `[apiGroup, resource, verbs]`.
 */
const DANGEROUS: ReadonlyArray<readonly [string, string, readonly string[]]> = [
  ['', 'secrets', ['get', 'list', 'watch']],
  ['', 'pods/exec', ['create', 'get']],
  ['', 'pods/attach', ['create', 'get']],
  ['', 'pods', ['create']],
  ['', 'serviceaccounts/token', ['create']],
  ['', 'serviceaccounts', ['impersonate']],
  ['', 'users', ['impersonate']],
  ['', 'groups', ['impersonate']],
  ['', 'nodes/proxy', ['get', 'create']],
  ['rbac.authorization.k8s.io', 'roles', ['escalate', 'bind']],
  ['rbac.authorization.k8s.io', 'clusterroles', ['escalate', 'bind']],
  ['rbac.authorization.k8s.io', 'rolebindings', ['create', 'update', 'patch']],
  ['rbac.authorization.k8s.io', 'clusterrolebindings', ['create', 'update', 'patch']],
];

/** What in `role` is dangerous: wildcards, or a permission from DANGEROUS (a `get` limited by resourceNames aside). */
export function dangerousPermissions(role: Rec | undefined): string[] {
  const out: string[] = [];
  for (const r of arr(role?.['rules'])) {
    if (!isObj(r)) continue;
    const verbs = arr(r['verbs']).map(String);
    const resources = arr(r['resources']).map(String);
    const groups = arr(r['apiGroups']).map(String);
    if (verbs.includes('*') || resources.includes('*')) {
      out.push(`wildcard (verbs ${verbs.join(',')} on ${resources.join(',')})`);
      continue;
    }
    const named = arr(r['resourceNames']).length > 0;
    for (const [group, resource, bad] of DANGEROUS) {
      if (!resources.includes(resource) || !(groups.includes(group) || groups.includes('*'))) continue;
      const hits = verbs.filter((v) => bad.includes(v) && !(named && v === 'get'));
      if (hits.length > 0) out.push(`${hits.join(',')} ${resource}`);
    }
  }
  return out;
}

const metaOf = (v: Rec): Rec => (isObj(v['metadata']) ? v['metadata'] : {});

export function kubernetesRules(ctx: CheckContext): void {
  const roles = new Map<string, Rec>();
  for (const d of ctx.docs) {
    const k = str(d.value['kind']);
    if (k === 'ClusterRole' || k === 'Role') {
      const meta = metaOf(d.value);
      roles.set(`${k}/${k === 'Role' ? `${str(meta['namespace']) || 'default'}/` : ''}${str(meta['name'])}`, d.value);
    }
  }

  for (const w of ctx.agents) {
    const sp = w.podSpec;
    if (sp['hostNetwork'] === true)
      ctx.report('K8S003', w.doc, `agent ${w.namespace}/${w.name} uses hostNetwork`, [...w.podSpecPath, 'hostNetwork']);
    const saDoc = ctx.docs.find(
      (d) =>
        d.value['kind'] === 'ServiceAccount' &&
        str(metaOf(d.value)['name']) === w.serviceAccount &&
        (str(metaOf(d.value)['namespace']) || 'default') === w.namespace,
    );
    // The pod's setting wins over the ServiceAccount's; neither set means mounted (Kubernetes "Configure Service
    // Accounts for Pods", opt out of API credential automounting).
    const podMount = sp['automountServiceAccountToken'];
    const saMount = saDoc?.value['automountServiceAccountToken'];
    const mounted = typeof podMount === 'boolean' ? podMount : typeof saMount === 'boolean' ? saMount : true;
    const needsToken = w.annotations['phiguard.io/needs-service-account-token'] === 'true';
    if (mounted && !needsToken)
      ctx.report(
        'K8S002',
        w.doc,
        `agent ${w.namespace}/${w.name} mounts a service-account token` +
          (podMount === true
            ? ' (the pod sets automountServiceAccountToken: true, overriding its ServiceAccount)'
            : ''),
        podMount === true ? [...w.podSpecPath, 'automountServiceAccountToken'] : w.podSpecPath,
      );
    const tools =
      w.annotations['phiguard.io/tool-execution'] === 'true' || w.podLabels['phiguard.io/tool-execution'] === 'true';
    if (tools && !/gvisor|runsc|kata/i.test(str(sp['runtimeClassName'])))
      ctx.report(
        'K8S004',
        w.doc,
        `agent ${w.namespace}/${w.name} executes tools but runs without a sandboxed runtimeClassName`,
        w.podSpecPath,
      );
    for (const other of ctx.workloads)
      if (!other.isAgent && other.namespace === w.namespace && other.serviceAccount === w.serviceAccount)
        ctx.report(
          'K8S005',
          other.doc,
          `${other.kind} ${other.namespace}/${other.name} is not an agent but runs as agent ${w.name}'s service account ` +
            `${w.namespace}/${w.serviceAccount}`,
          other.podSpecPath,
        );
  }

  // Bindings are checked once per bound agent service account.
  const agentAccounts = new Set(ctx.agents.map((w) => `${w.namespace}/${w.serviceAccount}`));
  for (const d of ctx.docs) {
    const k = str(d.value['kind']);
    if ((k !== 'ClusterRoleBinding' && k !== 'RoleBinding') || !isObj(d.value['roleRef'])) continue;
    const bindingNs = str(metaOf(d.value)['namespace']) || 'default';
    const bound = arr(d.value['subjects'])
      .filter((s): s is Rec => isObj(s) && s['kind'] === 'ServiceAccount')
      .map((s) => `${str(s['namespace']) || bindingNs}/${str(s['name'])}`)
      .filter((sa) => agentAccounts.has(sa));
    if (bound.length === 0) continue;
    const ref = d.value['roleRef'];
    const refName = str(ref['name']);
    const refKind = str(ref['kind']);
    const role = roles.get(refKind === 'Role' ? `Role/${bindingNs}/${refName}` : `ClusterRole/${refName}`);
    const what =
      PRIVILEGED_BUILTIN.has(refName) && refKind === 'ClusterRole' ? ['built-in role'] : dangerousPermissions(role);
    if (what.length > 0)
      ctx.report(
        'K8S001',
        d,
        `agent service account ${bound.join(', ')} is bound to ${refKind} ${refName}: ${what.join('; ')}`,
        ['roleRef'],
      );
  }
}

export function phiguardRules(ctx: CheckContext): void {
  const set = ctx.policySet;
  if (!set) return;
  for (const w of ctx.agents) {
    const principal = `spiffe://${ctx.trustDomain}/ns/${w.namespace}/sa/${w.serviceAccount}`;
    const id = { principal, trustDomain: ctx.trustDomain, namespace: w.namespace, serviceAccount: w.serviceAccount };
    const m = selectAgent(set, id, ctx.trustDomain);
    if (m.kind === 'none')
      ctx.report('PHG003', w.doc, `agent ${w.namespace}/${w.name} (${principal}) matches no phiguard agent policy`);
    if (m.kind === 'ambiguous')
      ctx.report(
        'PHG003',
        w.doc,
        `agent ${w.namespace}/${w.name} matches several agent policies equally: ${m.agents.join(', ')}`,
      );
  }
}
