/**
 * The policy set from AgentPolicy objects (`serve --policies-from cluster[:NAMESPACES]`): the cluster counterpart of
 * policy/policy-store.ts, with the same contract. Every change of the watched objects recompiles the whole set
 * through the file loader's path (each object becomes the policy document a file would hold: parsePolicyText, then
 * compilePolicies over all of them); a set with any error is rejected as a whole, the last good set stays in force,
 * the store is stale and `onReloadFailed` fires, exactly as for a directory. The service does not start without a
 * set that compiles.
 *
 * Each object's outcome is written to its `status` (policy-status.ts). The objects come from one reflector per
 * namespace (reflector.ts), which resumes, relists and retries with backoff on its own.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import { err, hasErrors, ok, PhiguardError, type Finding, type Result } from '../model/index.js';
import {
  compilePolicies,
  hashContent,
  parsePolicyText,
  POLICY_FINDING_CODES,
  type CompiledPolicySet,
  type LoadedDocument,
  type PolicyStore,
  type PolicyStoreEvents,
} from '../policy/index.js';
import {
  AGENT_POLICY,
  agentPolicyPath,
  namespaceFindings,
  policyDocumentText,
  sourceOf,
} from './agent-policy-resource.js';
import { createStatusWriter, type StatusWriter } from './policy-status.js';
import { startReflector, type Reflector } from './reflector.js';

export interface ClusterPolicyOptions {
  kc: KubeConfig;
  /** The namespaces watched; undefined: all (a cluster-wide list/watch). */
  namespaces: readonly string[] | undefined;
  /** Field manager of the status writes. */
  fieldManager?: string;
  /** How long startup waits for the first list (default 30 s). */
  syncTimeoutMs?: number;
  initialBackoffMs?: number;
  onWatchError?: (error: unknown, retryInMs: number) => void;
  onStatusError?: (source: string, error: unknown) => void;
}

/** The compiled set of some objects, or every finding (with the sources that caused errors). */
export function compileAgentPolicies(objects: readonly KubernetesObject[]): Result<CompiledPolicySet> {
  const sorted = [...objects].sort((a, b) => sourceOf(a).localeCompare(sourceOf(b)));
  const texts: string[] = [];
  const docs: LoadedDocument[] = [];
  const findings: Finding[] = [];
  for (const o of sorted) {
    const text = policyDocumentText(o);
    texts.push(sourceOf(o), text);
    findings.push(...namespaceFindings(o));
    const r = parsePolicyText(text, sourceOf(o));
    docs.push(...r.docs);
    findings.push(...r.findings);
  }
  const compiled = compilePolicies(docs, hashContent(texts));
  findings.push(...compiled.findings);
  const rejected = (fs: Finding[]): Result<CompiledPolicySet> =>
    err(new PhiguardError('policy', 'the AgentPolicy objects did not compile', { findings: fs }));
  if (hasErrors(findings)) return rejected(findings);
  if (compiled.set.agents.length === 0)
    return rejected([
      {
        code: POLICY_FINDING_CODES.empty,
        severity: 'error',
        file: 'agentpolicies',
        path: '',
        message: 'no AgentPolicy objects',
      },
    ]);
  return ok(compiled.set);
}

/** Watches started and synced; `open` compiles the first set and returns the store (policy-store.ts's contract). */
export interface ClusterPolicySource {
  open(events: PolicyStoreEvents): Result<PolicyStore>;
  close(): void;
}

async function syncAll(reflectors: Reflector[], timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<false>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  const synced = Promise.all(reflectors.map((r) => r.synced)).then(() => true);
  const done = await Promise.race([synced, timeout]);
  clearTimeout(timer);
  return done;
}

/** Starts the watches and waits for their first list; a `startup` error when they do not sync in time. */
export async function startClusterPolicySource(options: ClusterPolicyOptions): Promise<Result<ClusterPolicySource>> {
  let onChange: () => void = () => undefined;
  let lastError: unknown;
  const reflectors = (options.namespaces ?? [undefined]).map((namespace) =>
    startReflector({
      kc: options.kc,
      apiVersion: AGENT_POLICY.apiVersion,
      kind: AGENT_POLICY.kind,
      path: agentPolicyPath(namespace),
      namespace,
      ...(options.initialBackoffMs !== undefined ? { initialBackoffMs: options.initialBackoffMs } : {}),
      onChange: () => onChange(),
      onError: (e, ms) => {
        lastError = e;
        options.onWatchError?.(e, ms);
      },
    }),
  );
  const closeAll = (): void => reflectors.forEach((r) => r.close());
  if (!(await syncAll(reflectors, options.syncTimeoutMs ?? 30_000))) {
    closeAll();
    const why = lastError instanceof Error ? `: ${lastError.message}` : '';
    return err(new PhiguardError('startup', `the AgentPolicy objects could not be listed${why}`, { cause: lastError }));
  }
  const objects = (): KubernetesObject[] => reflectors.flatMap((r) => r.objects());
  return ok({
    close: closeAll,
    open: (events) => {
      const first = compileAgentPolicies(objects());
      if (!first.ok) {
        closeAll();
        return first;
      }
      const status = createStatusWriter(options.kc, options.fieldManager ?? 'phiguard-serve', options.onStatusError);
      const store = createStore(first.value, objects, events, status, closeAll);
      onChange = () => store.schedule();
      status.update(objects(), first.value.version, []);
      return ok(store);
    },
  });
}

function createStore(
  first: CompiledPolicySet,
  objects: () => KubernetesObject[],
  events: PolicyStoreEvents,
  status: StatusWriter,
  closeAll: () => void,
): PolicyStore & { schedule(): void } {
  let current = first;
  let stale = false;
  let timer: NodeJS.Timeout | undefined;
  const reload = (): boolean => {
    const all = objects();
    const r = compileAgentPolicies(all);
    if (!r.ok) {
      stale = true;
      events.onReloadFailed?.(r.error.findings, current.version);
      status.update(all, current.version, r.error.findings);
      return false;
    }
    if (stale) {
      stale = false;
      events.onRecovered?.();
    }
    if (r.value.version !== current.version) {
      current = r.value;
      events.onReloaded?.(current);
    }
    status.update(all, current.version, []);
    return true;
  };
  return {
    current: () => current,
    reload,
    stale: () => stale,
    // A burst of events (a relist, several objects applied at once) is one compile.
    schedule: () => {
      if (timer) return;
      timer = setTimeout(() => {
        timer = undefined;
        reload();
      }, 10);
      timer.unref();
    },
    close: () => {
      if (timer) clearTimeout(timer);
      closeAll();
    },
  };
}

/** `files`, or `cluster` with its namespaces (`cluster:a,b`; `cluster` alone: all namespaces). */
export function parsePoliciesFrom(
  value: string,
): { source: 'files' } | { source: 'cluster'; namespaces: string[] | undefined } {
  if (value === 'files') return { source: 'files' };
  const namespaces =
    value === 'cluster'
      ? undefined
      : value
          .slice('cluster:'.length)
          .split(',')
          .filter((n) => n !== '');
  return { source: 'cluster', namespaces };
}
