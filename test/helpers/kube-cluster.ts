/**
 * A loopback API server serving the kinds phiguard's cluster commands read and write (workloads, RBAC, AgentPolicy,
 * Cilium policies, PeerAuthentication, and optionally PolicyReport), seeded from a fixture file. Every fixture
 * object is validated against its kind's schema before it is stored, as an API server would on create.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { parse, parseAllDocuments } from 'yaml';
import { startKubeApiServer, type KubeApiServer, type KubeObject, type KubeResource } from './kube-api-server.js';
import { builtinResource, crdResource, istioResource } from './kube-schemas.js';

const readYaml = (f: string): unknown => parse(readFileSync(f, 'utf8'));

/** The resources: built-in kinds (kubernetes-models), Istio (@kubernetes-models/istio), CRDs from their files. */
export async function clusterResources(ciliumDir: string, extra: KubeResource[] = []): Promise<KubeResource[]> {
  return [
    await builtinResource('apps/v1', 'Deployment', 'deployments', true),
    await builtinResource('apps/v1', 'StatefulSet', 'statefulsets', true),
    await builtinResource('apps/v1', 'DaemonSet', 'daemonsets', true),
    await builtinResource('batch/v1', 'CronJob', 'cronjobs', true),
    await builtinResource('v1', 'ServiceAccount', 'serviceaccounts', true),
    await builtinResource('v1', 'ConfigMap', 'configmaps', true),
    await builtinResource('rbac.authorization.k8s.io/v1', 'Role', 'roles', true),
    await builtinResource('rbac.authorization.k8s.io/v1', 'RoleBinding', 'rolebindings', true),
    await builtinResource('rbac.authorization.k8s.io/v1', 'ClusterRole', 'clusterroles', false),
    await builtinResource('rbac.authorization.k8s.io/v1', 'ClusterRoleBinding', 'clusterrolebindings', false),
    await istioResource('security.istio.io/v1', 'PeerAuthentication', 'peerauthentications'),
    await istioResource('security.istio.io/v1', 'AuthorizationPolicy', 'authorizationpolicies'),
    crdResource(readYaml(path.join(ciliumDir, 'ciliumnetworkpolicies.crd.yaml'))),
    crdResource(readYaml(path.join(ciliumDir, 'ciliumclusterwidenetworkpolicies.crd.yaml'))),
    crdResource(readYaml('deploy/crds/agentpolicy.yaml')),
    ...extra,
  ];
}

/** Stores every document of `fixture` after validating it; throws naming the object and errors otherwise. */
export function seed(server: KubeApiServer, resources: readonly KubeResource[], fixture: string): void {
  for (const d of parseAllDocuments(readFileSync(fixture, 'utf8'))) {
    const o = d.toJS() as KubeObject | null;
    if (o === null) continue;
    const r = resources.find(
      (x) => (x.group === '' ? x.version : `${x.group}/${x.version}`) === o.apiVersion && x.kind === o.kind,
    );
    if (!r) throw new Error(`${fixture}: ${o.apiVersion} ${o.kind} is not served`);
    const errors = r.validate?.(o) ?? [];
    if (errors.length > 0) throw new Error(`${fixture}: ${o.kind} ${o.metadata.name}: ${errors.join('; ')}`);
    server.put(o);
  }
}

export async function startCluster(
  dir: string,
  ciliumDir: string,
  fixture: string,
  extra: KubeResource[] = [],
): Promise<KubeApiServer> {
  const resources = await clusterResources(ciliumDir, extra);
  const server = await startKubeApiServer(resources, dir);
  seed(server, resources, fixture);
  return server;
}
