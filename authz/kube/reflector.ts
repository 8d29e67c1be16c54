/**
 * A list-and-watch mirror of one collection, following the API's watch contract
 * (https://kubernetes.io/docs/reference/using-api/api-concepts/#efficient-detection-of-changes): list, then watch
 * from the list's `resourceVersion` with bookmarks (`allowWatchBookmarks`), resuming from the last version seen when
 * a watch ends cleanly, and listing again when the version has expired (410 Gone, as an `ERROR` event or as the
 * response). Any other failure (a 500, a refused connection, a 403 while RBAC is being fixed) is retried with capped
 * exponential backoff and jitter, for as long as the reflector runs: client-node's own informer (ListWatch) stops on
 * such an error and stays stopped, which would leave a service enforcing an ever older set without noticing.
 */
import { KubernetesObjectApi, Watch, type KubeConfig, type KubernetesObject } from '@kubernetes/client-node';

export interface ReflectorOptions {
  kc: KubeConfig;
  apiVersion: string;
  kind: string;
  /** The collection path, e.g. `/apis/phiguard.io/v1alpha1/namespaces/ns/agentpolicies` (all namespaces: none). */
  path: string;
  namespace: string | undefined;
  labelSelector?: string;
  /** The whole mirrored set, after the first list and after every change. */
  onChange: (objects: readonly KubernetesObject[]) => void;
  /** A failed list or watch, and the delay before the next attempt. */
  onError?: (error: unknown, retryInMs: number) => void;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
  /** Server-side watch timeout (a watch ends cleanly after it and is resumed); default 300 s. */
  watchTimeoutSeconds?: number;
}

export interface Reflector {
  /** Resolves after the first successful list. */
  synced: Promise<void>;
  objects(): readonly KubernetesObject[];
  /** The resourceVersion the mirror is at. */
  resourceVersion(): string;
  /** Lists and watches restarted after a failure (not counting clean resumes). */
  restarts(): number;
  close(): void;
}

/** `statusCode` of a client-node error (ApiException `code`, Watch error `statusCode`), if any. */
export function statusOf(e: unknown): number | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; statusCode?: unknown };
  if (typeof o.statusCode === 'number') return o.statusCode;
  return typeof o.code === 'number' ? o.code : undefined;
}

const keyOf = (o: KubernetesObject): string => `${o.metadata?.namespace ?? ''}/${o.metadata?.name ?? ''}`;

interface State {
  options: ReflectorOptions;
  api: KubernetesObjectApi;
  watch: Watch;
  objects: Map<string, KubernetesObject>;
  rv: string;
  failures: number;
  restarts: number;
  closed: boolean;
  controller: AbortController | undefined;
  timer: NodeJS.Timeout | undefined;
  markSynced: () => void;
}

const emit = (s: State): void => s.options.onChange([...s.objects.values()]);

function schedule(s: State, ms: number): void {
  if (s.closed) return;
  s.timer = setTimeout(() => void cycle(s), ms);
  s.timer.unref();
}

/** Capped exponential backoff with jitter (x0.8 to x1.2). */
function retry(s: State, error: unknown): void {
  const initial = s.options.initialBackoffMs ?? 500;
  const delay = Math.min(s.options.maxBackoffMs ?? 30_000, initial * 2 ** s.failures) * (0.8 + 0.4 * Math.random());
  s.failures += 1;
  s.restarts += 1;
  s.options.onError?.(error, Math.round(delay));
  schedule(s, delay);
}

async function list(s: State): Promise<void> {
  const o = s.options;
  const l = await s.api.list(
    o.apiVersion,
    o.kind,
    o.namespace,
    undefined,
    undefined,
    undefined,
    undefined,
    o.labelSelector,
  );
  s.objects.clear();
  for (const x of l.items) s.objects.set(keyOf(x), x);
  s.rv = l.metadata?.resourceVersion ?? '';
  emit(s);
  s.markSynced();
}

/** How a watch ended: cleanly, with its version expired (410), or failed. */
interface WatchEnd {
  gone: boolean;
  failed: unknown;
}

function onEvent(s: State, end: WatchEnd, type: string, obj: KubernetesObject & { code?: number }): void {
  if (type === 'ERROR') {
    if (obj.code === 410) end.gone = true;
    else end.failed = Object.assign(new Error(`watch ERROR event ${obj.code ?? ''}`), { statusCode: obj.code });
    return;
  }
  s.failures = 0; // the watch works again
  const version = obj.metadata?.resourceVersion;
  if (version !== undefined) s.rv = version;
  if (type === 'BOOKMARK') return;
  if (type === 'DELETED') s.objects.delete(keyOf(obj));
  else s.objects.set(keyOf(obj), obj);
  emit(s);
}

function onDone(s: State, end: WatchEnd, err: unknown): void {
  s.controller = undefined;
  if (s.closed) return;
  if (err !== null && err !== undefined) {
    if (statusOf(err) === 410) {
      s.rv = '';
      return schedule(s, 0);
    }
    // A client-side inactivity timeout resumes from the last version without backing off.
    if ((err as { name?: string }).name === 'TimeoutError') return schedule(s, 0);
    return retry(s, err);
  }
  if (end.gone) {
    s.rv = ''; // the version the mirror was at has been compacted: list again
    return schedule(s, 0);
  }
  if (end.failed !== undefined) return retry(s, end.failed);
  schedule(s, 0); // a clean close (the server's timeout): resume from the last version seen
}

async function cycle(s: State): Promise<void> {
  if (s.closed) return;
  try {
    if (s.rv === '') await list(s);
  } catch (e) {
    retry(s, e);
    return;
  }
  const end: WatchEnd = { gone: false, failed: undefined };
  const query: Record<string, string | number | boolean> = {
    resourceVersion: s.rv,
    allowWatchBookmarks: true,
    timeoutSeconds: s.options.watchTimeoutSeconds ?? 300,
  };
  if (s.options.labelSelector !== undefined) query['labelSelector'] = s.options.labelSelector;
  s.controller = await s.watch.watch(
    s.options.path,
    query,
    (type: string, obj: KubernetesObject & { code?: number }) => onEvent(s, end, type, obj),
    (err: unknown) => onDone(s, end, err),
  );
  if (s.closed) s.controller.abort();
}

export function startReflector(options: ReflectorOptions): Reflector {
  let markSynced: () => void = () => undefined;
  const synced = new Promise<void>((resolve) => (markSynced = resolve));
  const s: State = {
    options,
    api: KubernetesObjectApi.makeApiClient(options.kc),
    watch: new Watch(options.kc),
    objects: new Map(),
    rv: '',
    failures: 0,
    restarts: 0,
    closed: false,
    controller: undefined,
    timer: undefined,
    markSynced,
  };
  void cycle(s);
  return {
    synced,
    objects: () => [...s.objects.values()],
    resourceVersion: () => s.rv,
    restarts: () => s.restarts,
    close: () => {
      s.closed = true;
      if (s.timer) clearTimeout(s.timer);
      s.controller?.abort();
    },
  };
}
