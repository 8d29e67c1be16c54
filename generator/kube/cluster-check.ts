/**
 * `phiguard check --cluster`: the objects check's rules understand, read from the API server instead of files, as
 * manifest documents (live-objects.ts), so the same rules run on them. AgentPolicies are compiled as `serve
 * --policies-from cluster` compiles them and stand in for `--policies` (PHG001, PHG003). The mesh configuration
 * (the `istio` ConfigMap) is read by name from Istio's root namespace, so check never lists ConfigMaps.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { CompiledPolicySet } from '../../authz/index.js';
import { compileAgentPolicies, kubeRequest } from '../../authz/kube/index.js';
import { formatFinding } from '../../authz/model/index.js';
import type { CheckFinding, ManifestDoc } from '../check/index.js';
import { listKinds, liveDoc, type LiveKind } from './live-objects.js';

/** The kinds `check --cluster` reads (and its RBAC must allow to `list`). */
export const CHECK_KINDS: readonly LiveKind[] = [
  { apiVersion: 'apps/v1', kind: 'Deployment' },
  { apiVersion: 'apps/v1', kind: 'StatefulSet' },
  { apiVersion: 'apps/v1', kind: 'DaemonSet' },
  { apiVersion: 'batch/v1', kind: 'CronJob' },
  { apiVersion: 'v1', kind: 'ServiceAccount' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'Role' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'RoleBinding' },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRole', clusterScoped: true },
  { apiVersion: 'rbac.authorization.k8s.io/v1', kind: 'ClusterRoleBinding', clusterScoped: true },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy' },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', clusterScoped: true },
  { apiVersion: 'security.istio.io/v1', kind: 'PeerAuthentication' },
  { apiVersion: 'security.istio.io/v1', kind: 'AuthorizationPolicy' },
  { apiVersion: 'phiguard.io/v1alpha1', kind: 'AgentPolicy' },
];

export interface ClusterInputs {
  docs: ManifestDoc[];
  /** The compiled AgentPolicies; undefined when there are none or they do not compile (then in `policyErrors`). */
  policySet?: CompiledPolicySet;
  /** Every AgentPolicy error as check's PHG001 (policies that do not load), at the object. */
  policyErrors: CheckFinding[];
  /** The namespaces read: those asked for, else every namespace an object was read from. */
  namespaces: string[];
  /** Kinds not read, and why (not served, forbidden). */
  notes: string[];
}

export async function readClusterInputs(
  kc: KubeConfig,
  namespaces: readonly string[] | undefined,
  istioRootNamespace: string,
): Promise<ClusterInputs> {
  const lists = await listKinds(kc, CHECK_KINDS, namespaces);
  const docs: ManifestDoc[] = [];
  const notes: string[] = [];
  for (const l of lists) {
    if (l.missing !== undefined) notes.push(`${l.kind.kind} (${l.kind.apiVersion}) not read: ${l.missing}`);
    for (const o of l.items) docs.push(liveDoc(o, l.kind));
  }
  // The mesh config by name (RBAC: get with resourceNames [istio] in the root namespace, no list of ConfigMaps).
  const mesh = await kubeRequest(kc, 'GET', `/api/v1/namespaces/${istioRootNamespace}/configmaps/istio`);
  if (mesh.status === 200) docs.push(liveDoc(mesh.body, { apiVersion: 'v1', kind: 'ConfigMap' }));
  else if (mesh.status !== 404)
    notes.push(
      `ConfigMap ${istioRootNamespace}/istio not read: ${mesh.status} ${typeof mesh.body['message'] === 'string' ? mesh.body['message'] : ''}`,
    );
  const policies: KubernetesObject[] = lists.find((l) => l.kind.kind === 'AgentPolicy')?.items ?? [];
  const read = namespaces ?? [
    ...new Set(docs.map((d) => (d.value['metadata'] as { namespace?: string } | undefined)?.namespace ?? '')),
  ];
  const base = { docs, notes, namespaces: read.filter((n) => n !== '').sort() };
  if (policies.length === 0) return { ...base, policyErrors: [] };
  const compiled = compileAgentPolicies(policies);
  if (compiled.ok) return { ...base, policySet: compiled.value, policyErrors: [] };
  const policyErrors: CheckFinding[] = compiled.error.findings.map((f) => ({
    code: 'PHG001',
    severity: 'error',
    file: f.file,
    line: 1,
    path: f.path,
    message: formatFinding(f),
  }));
  return { ...base, policyErrors };
}
