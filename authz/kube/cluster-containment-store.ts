/**
 * The containment store over the API (containment-configmap.ts): the cluster counterpart of
 * containment/containment-store.ts, with the same ContainmentStore contract, so the replicas share containment
 * without a ReadWriteMany volume. Each replica mirrors the labelled ConfigMaps of its namespace with the reflector
 * (list, then watch; resumed, relisted on 410 and retried with backoff on errors), so another replica's entry or an
 * operator's lift is in force here as soon as its watch event arrives. A state this replica enters is in force here at
 * once and written with server-side apply; a write that fails is retried until it lands, and the state stays in force
 * locally meanwhile. Expiry is checked on every `get` and reported on a 1 s tick.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import {
  containmentStateOf,
  contextMatcher,
  inForce,
  type ContainmentEnd,
  type ContainmentState,
  type ContainmentStore,
  type ContainmentStoreOptions,
} from '../containment/index.js';
import { PhiguardError } from '../model/index.js';
import { applyContainmentState, configMapsPath, CONTAINMENT_LABEL, stateOf } from './containment-configmap.js';
import { startReflector } from './reflector.js';

export interface ClusterContainmentOptions extends ContainmentStoreOptions {
  kc: KubeConfig;
  /** The namespace of the ConfigMaps (the service's own). */
  namespace: string;
  /** Field manager of the writes (default `phiguard-serve`). */
  fieldManager?: string;
  /** How long startup waits for the first list (default 30 s). */
  syncTimeoutMs?: number;
  initialBackoffMs?: number;
  onWriteError?: (agent: string, error: unknown) => void;
  onWatchError?: (error: unknown, retryInMs: number) => void;
}

/** Whether the API's copy of an agent's state is this entry or newer (a lift by an operator after it). */
const supersedes = (seen: ContainmentState | undefined, entered: ContainmentState): boolean =>
  seen !== undefined && Date.parse(seen.lifted?.at ?? seen.since) >= Date.parse(entered.since);

/**
 * The states in force from what the API holds and what this replica entered but has not seen back yet; reports each
 * change through `onChange`, as the file store does.
 */
function stateMirror(onChange: ContainmentStoreOptions['onChange']): {
  states: () => ReadonlyMap<string, ContainmentState>;
  onObjects: (objects: readonly KubernetesObject[]) => void;
  entered: (state: ContainmentState) => void;
  pending: (state: ContainmentState) => boolean;
  recompute: () => void;
} {
  /** Every state read from the API, by agent (lifted ones included, to say who lifted). */
  let read = new Map<string, ContainmentState>();
  const pending = new Map<string, ContainmentState>();
  let states = new Map<string, ContainmentState>();
  const current = (): Map<string, ContainmentState> => {
    const now = Date.now();
    const out = new Map<string, ContainmentState>();
    for (const [agent, s] of read) if (inForce(s, now)) out.set(agent, s);
    for (const [agent, s] of pending) if (!supersedes(read.get(agent), s) && inForce(s, now)) out.set(agent, s);
    return out;
  };
  const endOf = (agent: string, previous: ContainmentState): ContainmentEnd => {
    const lifted = read.get(agent)?.lifted;
    if (lifted !== undefined) return { how: 'lifted', ...lifted };
    return Date.parse(previous.until) <= Date.now() ? { how: 'expired' } : { how: 'removed' };
  };
  const recompute = (): void => {
    const before = states;
    states = current();
    for (const a of new Set([...before.keys(), ...states.keys()])) {
      const prev = before.get(a);
      const cur = states.get(a);
      if (JSON.stringify(prev) === JSON.stringify(cur)) continue;
      if (cur === undefined && prev !== undefined) onChange?.(a, undefined, { end: endOf(a, prev), previous: prev });
      else onChange?.(a, cur);
    }
  };
  return {
    states: () => states,
    onObjects: (objects) => {
      const next = new Map<string, ContainmentState>();
      for (const o of objects) {
        const s = stateOf(o);
        if (s.ok) next.set(s.value.agent, s.value);
      }
      read = next;
      for (const [agent, s] of [...pending]) if (supersedes(read.get(agent), s)) pending.delete(agent);
      recompute();
    },
    entered: (state) => {
      pending.set(state.agent, state);
      states.set(state.agent, state);
      onChange?.(state.agent, state);
    },
    pending: (state) => pending.get(state.agent) === state,
    recompute,
  };
}

/** Opens the store and waits for the first list; throws an `io` error when it does not arrive in time. */
export async function startClusterContainmentStore(options: ClusterContainmentOptions): Promise<ContainmentStore> {
  const key = options.privacyKey;
  const manager = options.fieldManager ?? 'phiguard-serve';
  const mirror = stateMirror(options.onChange);
  const inContext = contextMatcher(key);
  const reflector = startReflector({
    kc: options.kc,
    apiVersion: 'v1',
    kind: 'ConfigMap',
    path: configMapsPath(options.namespace),
    namespace: options.namespace,
    labelSelector: `${CONTAINMENT_LABEL}=true`,
    onChange: mirror.onObjects,
    ...(options.onWatchError ? { onError: options.onWatchError } : {}),
    ...(options.initialBackoffMs !== undefined ? { initialBackoffMs: options.initialBackoffMs } : {}),
  });
  const timeout = options.syncTimeoutMs ?? 30_000;
  let timer: NodeJS.Timeout | undefined;
  const synced = await Promise.race([
    reflector.synced.then(() => true),
    new Promise<boolean>((resolve) => {
      timer = setTimeout(() => resolve(false), timeout);
    }),
  ]);
  clearTimeout(timer);
  if (!synced) {
    reflector.close();
    throw new PhiguardError(
      'io',
      `containment ConfigMaps in ${options.namespace}: not listed within ${Math.round(timeout / 1000)} s`,
    );
  }
  const tick = setInterval(mirror.recompute, 1000);
  tick.unref();

  const write = (state: ContainmentState, attempt = 0): void => {
    applyContainmentState(options.kc, options.namespace, state, manager).catch((e: unknown) => {
      options.onWriteError?.(state.agent, e);
      if (!mirror.pending(state) || !inForce(state, Date.now())) return;
      setTimeout(() => write(state, attempt + 1), Math.min(30_000, 500 * 2 ** attempt)).unref();
    });
  };

  return {
    get: (agent, now) => {
      const s = mirror.states().get(agent);
      return inForce(s, now) ? s : undefined;
    },
    enter(entry, context) {
      const state = containmentStateOf(entry, context, key);
      mirror.entered(state);
      write(state);
      return state;
    },
    inContext,
    list: (now) =>
      [...mirror.states().values()].filter((s) => inForce(s, now)).sort((a, b) => (a.agent < b.agent ? -1 : 1)),
    refresh: mirror.recompute,
    close: () => {
      clearInterval(tick);
      reflector.close();
    },
  };
}
