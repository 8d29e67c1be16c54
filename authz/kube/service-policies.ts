/**
 * The service's policy source: the directory (policy/policy-store.ts) or, with `policiesFrom: cluster[:NAMESPACES]`,
 * the AgentPolicy objects (cluster-policy-store.ts), behind the same PolicyStore contract and the same events.
 */
import { err, ok, PhiguardError, type Result } from '../model/index.js';
import { createPolicyStore, type PolicyStore, type PolicyStoreEvents } from '../policy/index.js';
import { parsePoliciesFrom, startClusterPolicySource, type ClusterPolicySource } from './cluster-policy-store.js';
import { loadKubeConfig } from './kube-config.js';

/** The service's settings this needs, and its operational log. */
interface SourceConfig {
  policiesFrom: string;
  kubeconfig?: string | undefined;
  policies?: string | undefined;
}
type LogFn = (fields: Record<string, unknown>, message: string) => void;
interface Log {
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}

/** Starts the cluster watches and waits for their first list (undefined for `files`), or a `startup` error. */
export async function startServicePolicySource(
  config: SourceConfig,
  log: Log,
): Promise<Result<ClusterPolicySource | undefined>> {
  const from = parsePoliciesFrom(config.policiesFrom);
  if (from.source === 'files') return ok(undefined);
  let kc;
  try {
    kc = loadKubeConfig(config.kubeconfig);
  } catch (e) {
    const why = e instanceof Error ? e.message : 'unreadable';
    return err(new PhiguardError('startup', `no Kubernetes client configuration: ${why}`, { cause: e }));
  }
  const r = await startClusterPolicySource({
    kc,
    namespaces: from.namespaces,
    onWatchError: (e, retryInMs) =>
      log.error(
        { error: e instanceof Error ? e.message : String(e), retryInMs },
        'AgentPolicy list/watch failed; retrying (the set in force stays)',
      ),
    onStatusError: (source, e) =>
      log.warn({ source, error: e instanceof Error ? e.message : String(e) }, 'AgentPolicy status not written'),
  });
  if (!r.ok) return r;
  log.info({ namespaces: from.namespaces ?? 'all' }, 'watching AgentPolicy objects');
  return ok(r.value);
}

/** The policy store of the configured source, with the file store's options for a directory. */
export function openPolicies(
  cluster: ClusterPolicySource | undefined,
  config: SourceConfig,
  events: PolicyStoreEvents,
  options: { settleMs?: number },
): Result<PolicyStore> {
  if (cluster !== undefined) return cluster.open(events);
  return createPolicyStore(config.policies ?? '', events, options);
}
