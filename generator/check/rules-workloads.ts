/** K8S rules (agent workload hygiene) and PHG rules (phiguard's own configuration). */
import { selectAgent } from '../../authz/index.js';
import { arr, isObj, str, type CheckContext, type Rec } from './context.js';

export function kubernetesRules(ctx: CheckContext): void {
  const roles = new Map<string, Rec>();
  for (const d of ctx.docs) {
    const k = str(d.value['kind']);
    if (k === 'ClusterRole' || k === 'Role') {
      const meta = (d.value['metadata'] ?? {}) as Rec;
      roles.set(`${k}/${k === 'Role' ? `${str(meta['namespace']) || 'default'}/` : ''}${str(meta['name'])}`, d.value);
    }
  }
  const wildcard = (role: Rec | undefined): boolean =>
    arr(role?.['rules']).some((r) => isObj(r) && (arr(r['verbs']).includes('*') || arr(r['resources']).includes('*')));

  for (const w of ctx.agents) {
    const sp = w.podSpec;
    if (sp['hostNetwork'] === true)
      ctx.report('K8S003', w.doc, `agent ${w.namespace}/${w.name} uses hostNetwork`, [...w.podSpecPath, 'hostNetwork']);
    const saDoc = ctx.docs.find(
      (d) =>
        d.value['kind'] === 'ServiceAccount' &&
        str((d.value['metadata'] as Rec | undefined)?.['name']) === w.serviceAccount &&
        (str((d.value['metadata'] as Rec | undefined)?.['namespace']) || 'default') === w.namespace,
    );
    const needsToken = w.annotations['phiguard.io/needs-service-account-token'] === 'true';
    if (
      !needsToken &&
      sp['automountServiceAccountToken'] !== false &&
      saDoc?.value['automountServiceAccountToken'] !== false
    ) {
      ctx.report('K8S002', w.doc, `agent ${w.namespace}/${w.name} mounts a service-account token`, w.podSpecPath);
    }
    const tools =
      w.annotations['phiguard.io/tool-execution'] === 'true' || w.podLabels['phiguard.io/tool-execution'] === 'true';
    if (tools && !/gvisor|runsc|kata/i.test(str(sp['runtimeClassName'])))
      ctx.report(
        'K8S004',
        w.doc,
        `agent ${w.namespace}/${w.name} executes tools but runs without a sandboxed runtimeClassName`,
        w.podSpecPath,
      );

    for (const d of ctx.docs) {
      const k = str(d.value['kind']);
      if (k !== 'ClusterRoleBinding' && k !== 'RoleBinding') continue;
      const bound = arr(d.value['subjects']).some(
        (s) =>
          isObj(s) &&
          s['kind'] === 'ServiceAccount' &&
          str(s['name']) === w.serviceAccount &&
          (str(s['namespace']) || str((d.value['metadata'] as Rec | undefined)?.['namespace'])) === w.namespace,
      );
      if (!bound || !isObj(d.value['roleRef'])) continue;
      const ref = d.value['roleRef'];
      const refName = str(ref['name']);
      const refKind = str(ref['kind']);
      const bindingNs = str((d.value['metadata'] as Rec | undefined)?.['namespace']) || 'default';
      const role = roles.get(refKind === 'Role' ? `Role/${bindingNs}/${refName}` : `ClusterRole/${refName}`);
      const named = refName === 'cluster-admin' || refName === 'admin';
      if (named || wildcard(role)) {
        const what = `${refKind} ${refName}${named ? '' : ' (wildcard verbs or resources)'}`;
        ctx.report('K8S001', d, `agent service account ${w.namespace}/${w.serviceAccount} is bound to ${what}`, [
          'roleRef',
        ]);
      }
    }
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
