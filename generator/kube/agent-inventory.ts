/**
 * `phiguard discover`'s inventory: the AI agent workloads of a cluster (Deployments and StatefulSets) and what
 * governs them. A workload is an agent when its labels or annotations carry the agent selector, or when a recorded
 * envelope shows it calling a hosted model API (an unlabeled one is shadow AI). For each: its service account, the
 * RBAC bindings that reach it (flagged with check's K8S001 logic: built-in privileged roles, wildcards, Secrets,
 * pods/exec and the other escalation paths), the AgentPolicy that selects it (phiguard's own agent selection over
 * the compiled objects), the CiliumNetworkPolicies whose endpointSelector selects it (check's selector logic), and
 * its effective Istio mTLS mode.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { selectAgent, type CompiledPolicySet } from '../../authz/index.js';
import { compileAgentPolicies } from '../../authz/kube/index.js';
import type { Envelope } from '../../authz/observe/index.js';
import { dangerousPermissions, extractWorkloads, PRIVILEGED_BUILTIN, selects } from '../check/index.js';
import { liveDoc, type LiveKind, type LiveList } from './live-objects.js';
import { modelVendor } from './model-endpoints.js';
import { effectiveMtls, type MtlsMode } from './mtls-mode.js';

/** What discover lists (and what its RBAC must allow to `list`). */
export const DISCOVER_KINDS: readonly LiveKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', clusterScoped: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', clusterScoped: true },
  { apiVersion: 'phiguard.io/v1alpha1', kind: 'AgentPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', clusterScoped: true },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' },
];

export interface RbacReach {
  /** `RoleBinding ns/name` or `ClusterRoleBinding name`. */
  binding: string;
  /** `ClusterRole name` or `Role ns/name`. */
  role: string;
  /** What is dangerous in it (empty: nothing flagged). */
  flags: string[];
}

export interface AgentWorkload {
  kind: string;
  namespace: string;
  name: string;
  serviceAccount: string;
  /** Why it counts as an agent. */
  reasons: string[];
  /** Found only by the envelope heuristic: an agent without the agent label or annotation. */
  unlabeled: boolean;
  rbac: RbacReach[];
  /** `namespace/name` of the AgentPolicy selecting it; undefined: none. */
  agentPolicy?: string;
  ciliumPolicies: string[];
  mtls: MtlsMode;
}

export interface InventoryOptions {
  agentSelector: Record<string, string>;
  trustDomain: string;
  istioRootNamespace: string;
  envelopes: readonly Envelope[];
}

const itemsOf = (lists: readonly LiveList[], kind: string): KubernetesObject[] =>
  lists.find((l) => l.kind.kind === kind)?.items ?? [];

const name = (o: KubernetesObject): string => o.metadata?.name ?? '';
const nsName = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${name(o)}`;

interface Binding {
  o: KubernetesObject;
  roleRef?: { kind?: string; name?: string };
  subjects?: Array<{ kind?: string; name?: string; namespace?: string }>;
}

/** The bindings that reach `namespace/serviceAccount`: naming it, or a group all service accounts (of it) are in. */
function rbacOf(lists: readonly LiveList[], namespace: string, serviceAccount: string): RbacReach[] {
  const roles = new Map<string, KubernetesObject>();
  for (const r of itemsOf(lists, 'Role')) roles.set(`Role/${nsName(r)}`, r);
  for (const r of itemsOf(lists, 'ClusterRole')) roles.set(`ClusterRole/${name(r)}`, r);
  const out: RbacReach[] = [];
  for (const kind of ['RoleBinding', 'ClusterRoleBinding']) {
    for (const o of itemsOf(lists, kind)) {
      const b = o as Binding;
      const bns = o.metadata?.namespace ?? '';
      if (kind === 'RoleBinding' && bns !== namespace) continue;
      // Service accounts are in the groups system:serviceaccounts and system:serviceaccounts:<namespace>
      // (https://kubernetes.io/docs/reference/access-authn-authz/rbac/#referring-to-subjects).
      const reaches = (b.subjects ?? []).some(
        (s) =>
          (s.kind === 'ServiceAccount' && s.name === serviceAccount && (s.namespace ?? bns) === namespace) ||
          (s.kind === 'Group' &&
            (s.name === 'system:serviceaccounts' || s.name === `system:serviceaccounts:${namespace}`)),
      );
      if (!reaches) continue;
      const refKind = b.roleRef?.kind ?? '';
      const refName = b.roleRef?.name ?? '';
      const role = roles.get(refKind === 'Role' ? `Role/${bns}/${refName}` : `ClusterRole/${refName}`);
      const flags =
        refKind === 'ClusterRole' && PRIVILEGED_BUILTIN.has(refName)
          ? [`built-in role ${refName}`]
          : dangerousPermissions(role as Record<string, unknown> | undefined);
      out.push({
        binding: kind === 'RoleBinding' ? `RoleBinding ${bns}/${name(o)}` : `ClusterRoleBinding ${name(o)}`,
        role: refKind === 'Role' ? `Role ${bns}/${refName}` : `ClusterRole ${refName}`,
        flags: role === undefined && flags.length === 0 ? [`${refKind} ${refName} not found`] : flags,
      });
    }
  }
  return out;
}

/** The AgentPolicy selecting the principal: over the whole set when it compiles, else object by object. */
function policyMatcher(
  policies: readonly KubernetesObject[],
  trustDomain: string,
): (ns: string, sa: string) => string | undefined {
  const whole = compileAgentPolicies(policies);
  const sets: Array<{ set: CompiledPolicySet; objects: readonly KubernetesObject[] }> = whole.ok
    ? [{ set: whole.value, objects: policies }]
    : policies.flatMap((p) => {
        const r = compileAgentPolicies([p]);
        return r.ok ? [{ set: r.value, objects: [p] }] : [];
      });
  return (namespace, serviceAccount) => {
    const principal = `spiffe://${trustDomain}/ns/${namespace}/sa/${serviceAccount}`;
    const id = { principal, trustDomain, namespace, serviceAccount };
    const found: string[] = [];
    for (const { set, objects } of sets) {
      const m = selectAgent(set, id, trustDomain);
      if (m.kind === 'match') {
        const o = objects.find((x) => name(x) === m.agent.name && x.metadata?.namespace === namespace) ?? objects[0];
        if (o) found.push(nsName(o));
      } else if (m.kind === 'ambiguous') found.push(`ambiguous: ${m.agents.join(', ')}`);
    }
    return found.length > 0 ? found.join('; ') : undefined;
  };
}

export function agentInventory(lists: readonly LiveList[], options: InventoryOptions): AgentWorkload[] {
  const docs = ['Deployment', 'StatefulSet'].flatMap((k) =>
    itemsOf(lists, k).map((o, i) => liveDoc(o, { apiVersion: 'apps/v1', kind: k }, i)),
  );
  const workloads = extractWorkloads(docs, {
    agentSelector: options.agentSelector,
    agentNamespaces: [],
    defaultNamespace: 'default',
  });
  const cilium = [...itemsOf(lists, 'CiliumNetworkPolicy'), ...itemsOf(lists, 'CiliumClusterwideNetworkPolicy')];
  const matchPolicy = policyMatcher(itemsOf(lists, 'AgentPolicy'), options.trustDomain);
  const selector = Object.entries(options.agentSelector);
  const out: AgentWorkload[] = [];
  for (const w of workloads) {
    const reasons: string[] = [];
    if (w.isAgent) reasons.push(`label ${selector.map(([k, v]) => `${k}=${v}`).join(',')}`);
    else if (selector.every(([k, v]) => w.annotations[k] === v))
      reasons.push(`annotation ${selector.map(([k, v]) => `${k}=${v}`).join(',')}`);
    const labelled = reasons.length > 0;
    for (const e of options.envelopes) {
      const ew = e.spec.workload;
      if (ew.namespace !== w.namespace || ew.name !== w.name || (ew.kind !== undefined && ew.kind !== w.kind)) continue;
      for (const x of e.spec.egress) {
        const vendor = modelVendor(x.host);
        if (vendor !== undefined) reasons.push(`envelope: calls ${vendor} (${x.host})`);
      }
    }
    if (reasons.length === 0) continue;
    const ciliumPolicies = cilium
      .filter((p) => {
        const clusterwide = p.kind === 'CiliumClusterwideNetworkPolicy';
        const v = p as { spec?: { endpointSelector?: unknown }; specs?: Array<{ endpointSelector?: unknown }> };
        const specs = [...(v.spec ? [v.spec] : []), ...(v.specs ?? [])];
        return specs.some((s) => selects(s.endpointSelector, w, clusterwide, p.metadata?.namespace ?? 'default'));
      })
      .map((p) => (p.kind === 'CiliumClusterwideNetworkPolicy' ? `ccnp/${name(p)}` : nsName(p)));
    const agentPolicy = matchPolicy(w.namespace, w.serviceAccount);
    out.push({
      kind: w.kind,
      namespace: w.namespace,
      name: w.name,
      serviceAccount: w.serviceAccount,
      reasons: [...new Set(reasons)],
      unlabeled: !labelled,
      rbac: rbacOf(lists, w.namespace, w.serviceAccount),
      ...(agentPolicy !== undefined ? { agentPolicy } : {}),
      ciliumPolicies,
      mtls: effectiveMtls(itemsOf(lists, 'PeerAuthentication'), w.namespace, w.podLabels, options.istioRootNamespace),
    });
  }
  return out.sort((a, b) => `${a.namespace}/${a.name}`.localeCompare(`${b.namespace}/${b.name}`));
}

/** A fixed-width table: one row per agent workload. */
export function inventoryTable(rows: readonly AgentWorkload[]): string {
  const head = ['NAMESPACE', 'KIND', 'NAME', 'SERVICEACCOUNT', 'AGENTPOLICY', 'CILIUM', 'MTLS', 'RBAC', 'WHY'];
  const body = rows.map((r) => {
    const flagged = r.rbac.filter((x) => x.flags.length > 0);
    return [
      r.namespace,
      r.kind,
      r.name,
      r.serviceAccount,
      r.agentPolicy ?? 'NONE',
      r.ciliumPolicies.length > 0 ? r.ciliumPolicies.join(',') : 'NONE',
      r.mtls.mode + (r.mtls.ports.length > 0 ? ` (${r.mtls.ports.join(',')})` : ''),
      flagged.length > 0
        ? flagged.map((x) => `${x.role}: ${x.flags.join('; ')}`).join(' | ')
        : r.rbac.length > 0
          ? 'ok'
          : 'none',
      (r.unlabeled ? 'UNLABELED ' : '') + r.reasons.join('; '),
    ];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => (b[i] ?? '').length)));
  const line = (cells: string[]): string =>
    `${cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd()}\n`;
  return [head, ...body].map(line).join('');
}
