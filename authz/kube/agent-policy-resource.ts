/**
 * The AgentPolicy custom resource (`phiguard.io/v1alpha1`, namespaced): its coordinates, and its translation into the
 * policy document the file loader reads (authz/policy/load-policies.ts), so both sources go through the same
 * validation and compiler.
 *
 * A namespace is a trust boundary: an AgentPolicy may govern only agents of its own namespace. Its selector must name
 * that namespace (`spec.selector.namespace`, or the `/ns/<namespace>/` of a SPIFFE `principal`), and a `workload`
 * may only be in it. Otherwise whoever may create AgentPolicies in one namespace could grant another namespace's
 * agent access by writing a more specific policy for it.
 */
import { stringify } from 'yaml';
import type { KubernetesObject } from '@kubernetes/client-node';
import type { Finding } from '../model/index.js';

/** An AgentPolicy that reaches outside its namespace. */
export const NAMESPACE_BOUNDARY = 'agentpolicy-namespace-boundary';

export const AGENT_POLICY = {
  group: 'phiguard.io',
  version: 'v1alpha1',
  apiVersion: 'phiguard.io/v1alpha1',
  kind: 'AgentPolicy',
  plural: 'agentpolicies',
} as const;

/** The annotation that carries a policy's `metadata.description` (ObjectMeta has no such field). */
export const DESCRIPTION_ANNOTATION = 'phiguard.io/description';

/** The collection path of AgentPolicies in a namespace (all namespaces: undefined). */
export function agentPolicyPath(namespace: string | undefined): string {
  const base = `/apis/${AGENT_POLICY.group}/${AGENT_POLICY.version}`;
  return namespace === undefined
    ? `${base}/${AGENT_POLICY.plural}`
    : `${base}/namespaces/${namespace}/${AGENT_POLICY.plural}`;
}

/** `agentpolicy/<namespace>/<name>`: where findings about an object point (their `file`). */
export function sourceOf(o: KubernetesObject): string {
  return `agentpolicy/${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;
}

/** The policy document of an object: apiVersion, kind, name, labels, description, spec (no status or server fields). */
export function policyDocumentText(o: KubernetesObject): string {
  const m = o.metadata ?? {};
  const description = m.annotations?.[DESCRIPTION_ANNOTATION];
  const doc = {
    apiVersion: o.apiVersion,
    kind: o.kind,
    metadata: {
      name: m.name,
      ...(description !== undefined ? { description } : {}),
      ...(m.labels !== undefined && Object.keys(m.labels).length > 0 ? { labels: m.labels } : {}),
    },
    spec: (o as { spec?: unknown }).spec,
  };
  return stringify(doc);
}

const SPIFFE_NS = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\//;

/** Errors when the object's selector or workload reaches outside its own namespace. */
export function namespaceFindings(o: KubernetesObject): Finding[] {
  const ns = o.metadata?.namespace ?? '';
  const spec = (o as { spec?: { selector?: Record<string, unknown>; workload?: Record<string, unknown> } }).spec;
  const out: Finding[] = [];
  const at = (path: string, message: string): void => {
    out.push({ code: NAMESPACE_BOUNDARY, severity: 'error', file: sourceOf(o), path, message });
  };
  const selector = spec?.selector ?? {};
  const selNs = selector['namespace'];
  if (typeof selNs === 'string' && selNs !== ns)
    at('spec.selector.namespace', `an AgentPolicy in namespace "${ns}" may only select agents of "${ns}"`);
  const principal = selector['principal'];
  if (typeof principal === 'string') {
    const pns = SPIFFE_NS.exec(principal)?.[1];
    if (pns !== ns)
      at(
        'spec.selector.principal',
        `an AgentPolicy in namespace "${ns}" may only select a principal of "${ns}" (spiffe://<trust domain>/ns/${ns}/sa/<account>)`,
      );
  }
  if (typeof principal !== 'string' && typeof selNs !== 'string')
    at('spec.selector', `name the namespace ("${ns}") or a principal of it`);
  const wns = spec?.workload?.['namespace'];
  if (typeof wns === 'string' && wns !== ns)
    at('spec.workload.namespace', `an AgentPolicy in namespace "${ns}" may only describe a workload of "${ns}"`);
  return out;
}
