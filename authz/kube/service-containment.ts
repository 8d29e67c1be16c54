/**
 * `serve --containment-from cluster:NAMESPACE`: the service's containment store through the API
 * (cluster-containment-store.ts) instead of a shared directory. Startup waits for the first list of the containment
 * ConfigMaps, so a replica never serves without the containments already in force.
 */
import type { ContainmentStore, ContainmentStoreOptions } from '../containment/index.js';
import type { PrivacyKey } from '../privacy/index.js';
import { startClusterContainmentStore } from './cluster-containment-store.js';
import { loadKubeConfig } from './kube-config.js';

/** The namespace of `cluster:NAMESPACE`, or undefined for `files`. */
export const containmentNamespace = (from: string): string | undefined =>
  from.startsWith('cluster:') ? from.slice('cluster:'.length) : undefined;

/** The store through the API when `containmentFrom` is `cluster:NAMESPACE`; undefined for `files`. */
export async function startServiceContainment(
  config: { containmentFrom: string; kubeconfig?: string | undefined },
  privacyKey: PrivacyKey | undefined,
  onChange: NonNullable<ContainmentStoreOptions['onChange']>,
  onError: (what: string, error: unknown) => void,
): Promise<ContainmentStore | undefined> {
  const namespace = containmentNamespace(config.containmentFrom);
  if (namespace === undefined) return undefined;
  return startClusterContainmentStore({
    kc: loadKubeConfig(config.kubeconfig),
    namespace,
    privacyKey,
    onChange,
    onWriteError: (agent, e) => onError(`containment write for ${agent}`, e),
    onWatchError: (e) => onError('containment watch', e),
  });
}
