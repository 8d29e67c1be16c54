/**
 * What `phiguard apply` sends: the policies phiguard generates, as API objects. CiliumNetworkPolicies and
 * CiliumClusterwideNetworkPolicies (`generate cilium`) are sent as they are; an AgentPolicy policy file becomes the
 * AgentPolicy resource (its namespace from `metadata.namespace`, else the namespace its selector names; its
 * `metadata.description` as the `phiguard.io/description` annotation, since ObjectMeta has no such field). Any other
 * kind is refused: apply writes only what phiguard generates, so its RBAC stays that narrow.
 */
import type { KubernetesObject } from '@kubernetes/client-node';
import { AGENT_POLICY, DESCRIPTION_ANNOTATION } from '../../authz/kube/index.js';
import type { ManifestDoc } from '../check/index.js';

export const APPLIED_KINDS: ReadonlyArray<{ apiVersion: string; kind: string; namespaced: boolean }> = [
  { apiVersion: 'cilium.io/v2', kind: 'CiliumNetworkPolicy', namespaced: true },
  { apiVersion: 'cilium.io/v2', kind: 'CiliumClusterwideNetworkPolicy', namespaced: false },
  { apiVersion: AGENT_POLICY.apiVersion, kind: AGENT_POLICY.kind, namespaced: true },
];

export interface ApplyItem {
  object: KubernetesObject;
  /** `file` (document N): where it came from. */
  source: string;
}

const SPIFFE_NS = /^spiffe:\/\/[^/]+\/ns\/([^/]+)\//;
const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** The namespace an AgentPolicy document belongs in, from its metadata or its selector. */
function policyNamespace(value: Record<string, unknown>): string | undefined {
  const meta = isObj(value['metadata']) ? value['metadata'] : {};
  if (typeof meta['namespace'] === 'string' && meta['namespace'] !== '') return meta['namespace'];
  const spec = isObj(value['spec']) ? value['spec'] : {};
  const sel = isObj(spec['selector']) ? spec['selector'] : {};
  if (typeof sel['namespace'] === 'string') return sel['namespace'];
  if (typeof sel['principal'] === 'string') return SPIFFE_NS.exec(sel['principal'])?.[1];
  return undefined;
}

/** The objects of `docs`, or the problems (a kind apply does not write, a namespace it cannot tell). */
export function applyItems(
  docs: readonly ManifestDoc[],
  defaultNamespace: string,
): { items: ApplyItem[]; problems: string[] } {
  const items: ApplyItem[] = [];
  const problems: string[] = [];
  for (const d of docs) {
    const source = `${d.file} (document ${d.index + 1})`;
    const v = structuredClone(d.value);
    const known = APPLIED_KINDS.find((k) => k.apiVersion === v['apiVersion'] && k.kind === v['kind']);
    const meta = isObj(v['metadata']) ? v['metadata'] : undefined;
    if (!known || !meta || typeof meta['name'] !== 'string') {
      problems.push(
        `${source}: ${String(v['apiVersion'])} ${String(v['kind'])} is not something phiguard applies (${APPLIED_KINDS.map((k) => k.kind).join(', ')})`,
      );
      continue;
    }
    if (known.kind === AGENT_POLICY.kind) {
      const ns = policyNamespace(v);
      if (ns === undefined) {
        problems.push(`${source}: AgentPolicy ${meta['name']}: no namespace (metadata.namespace or its selector's)`);
        continue;
      }
      meta['namespace'] = ns;
      if (typeof meta['description'] === 'string') {
        const annotations = isObj(meta['annotations']) ? meta['annotations'] : {};
        meta['annotations'] = { ...annotations, [DESCRIPTION_ANNOTATION]: meta['description'] };
      }
      delete meta['description'];
      delete v['status'];
    } else if (known.namespaced && (typeof meta['namespace'] !== 'string' || meta['namespace'] === '')) {
      meta['namespace'] = defaultNamespace;
    }
    items.push({ object: v, source });
  }
  return { items, problems };
}

/** `Kind namespace/name` (cluster-scoped: `Kind name`). */
export function objectName(o: KubernetesObject): string {
  const ns = o.metadata?.namespace;
  return `${o.kind ?? ''} ${ns !== undefined && ns !== '' ? `${ns}/` : ''}${o.metadata?.name ?? ''}`;
}
