/**
 * A JWKS URL's key set (RFC 7517 §5 JWK Set), fetched off the Check path and held with its age, so that "the keys
 * are unavailable" is told apart from "the token is bad".
 *
 * - Fetched at start, then every `refreshMs` (default 5 min); after a failed fetch, again after 1 s, 2 s, 4 s ... up
 *   to 30 s until one succeeds. A token whose `kid` is not in the set fetches it again at most once per
 *   `kidCooldownMs` (a rotated key, RFC 7515 §4.1.4), as jose's remote set does.
 * - A set is usable for `maxAgeMs` (default 15 min) after the fetch that brought it: a key the issuer removed stops
 *   verifying within that time even when its JWKS URL stops answering. A failed refresh keeps the set in force
 *   until then. A verification is cached only while the set is within `refreshMs` of its fetch; a Check that finds
 *   the set older than that with no failed fetch since (a refresh due, not failing) waits for the refresh.
 * - With no usable set, verification fails with `KeysUnavailable` (the decision reason `keys-unavailable`, 503)
 *   instead of a token error; a Check waits for a fetch already under way, and starts one itself when none ran in the
 *   last second.
 * - Every fetch is reported (`onFetch`: success, or failure with a short cause such as `ECONNREFUSED`, `timeout`,
 *   `http-503`, `not-a-jwk-set`; never the body).
 */
import { createLocalJWKSet, errors as joseErrors, type JWTVerifyGetKey } from 'jose';

/** Thrown by the key lookup when no usable key set is held: the token was not judged. */
export class KeysUnavailable extends Error {
  override name = 'KeysUnavailable';
}

/** The claims reason of a token that could not be verified for want of keys (decision reason `keys-unavailable`). */
export const KEYS_UNAVAILABLE = 'keys-unavailable';

export interface KeySetStatus {
  /** `url` for a JWKS URL, `file` for a JWKS file. */
  kind: 'url' | 'file';
  /** Whether a usable key set is held now. */
  available: boolean;
  /** When the key set in force was fetched or loaded (epoch ms), or undefined when none ever was. */
  loadedAtMs: number | undefined;
}

export interface RemoteKeySetOptions {
  refreshMs?: number;
  maxAgeMs?: number;
  kidCooldownMs?: number;
  timeoutMs?: number;
  /** Largest JWKS body accepted, in bytes (default 1 MiB). */
  maxBytes?: number;
  /** Each fetch's result; `cause` for a failure. */
  onFetch?: (result: 'success' | 'failure', cause: string) => void;
  now?: () => number;
  fetch?: typeof fetch;
}

export interface RemoteKeySet {
  keys: JWTVerifyGetKey;
  /** Changes whenever the key set does. */
  version: () => number;
  /** Whether a usable key set is held (a cached verification may be reused only then). */
  current: () => boolean;
  status: () => KeySetStatus;
  /** Fetches now (single flight); resolves when done, whatever the result. */
  refresh: () => Promise<void>;
  close: () => void;
}

interface Held {
  text: string;
  local: JWTVerifyGetKey;
  fetchedAtMs: number;
}

const RETRY_MIN_MS = 1_000;
const RETRY_MAX_MS = 30_000;
/** A Check with no usable set starts a fetch itself when none was attempted for this long. */
const ON_DEMAND_MS = 1_000;

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

class FetchFailed extends Error {}

/** A short, safe cause for a failed fetch: an errno code, `timeout`, `http-<status>`, or what was wrong with it. */
function causeOf(e: unknown): string {
  if (e instanceof FetchFailed) return e.message;
  if (e instanceof Error && (e.name === 'TimeoutError' || e.name === 'AbortError')) return 'timeout';
  const cause = e instanceof Error ? (e as { cause?: unknown }).cause : undefined;
  const code = isRecord(cause) && typeof cause['code'] === 'string' ? cause['code'] : undefined;
  return code !== undefined && /^[A-Z0-9_]{1,40}$/.test(code) ? code : 'network-error';
}

/** Fetches and parses a JWK Set; throws (FetchFailed with a cause, or fetch's error) when that fails. */
async function fetchKeySet(
  uri: string,
  fetchImpl: typeof fetch,
  o: { timeoutMs: number; maxBytes: number; now: () => number },
): Promise<Held> {
  const res = await fetchImpl(uri, {
    headers: { accept: 'application/json, application/jwk-set+json' },
    signal: AbortSignal.timeout(o.timeoutMs),
  });
  if (!res.ok) {
    await res.body?.cancel();
    throw new FetchFailed(`http-${res.status}`);
  }
  const text = await res.text();
  if (Buffer.byteLength(text) > o.maxBytes) throw new FetchFailed('too-large');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new FetchFailed('not-json');
  }
  if (!isRecord(parsed) || !Array.isArray(parsed['keys'])) throw new FetchFailed('not-a-jwk-set');
  try {
    return { text, local: createLocalJWKSet({ keys: parsed['keys'] as never }), fetchedAtMs: o.now() };
  } catch {
    throw new FetchFailed('not-a-jwk-set');
  }
}

/** Creates the key set for `uri` and starts fetching it. */
export function createRemoteKeySet(uri: string, options: RemoteKeySetOptions = {}): RemoteKeySet {
  const { refreshMs = 300_000, maxAgeMs = 900_000, kidCooldownMs = 30_000 } = options;
  const { timeoutMs = 5_000, maxBytes = 1024 * 1024 } = options;
  const now = options.now ?? ((): number => Date.now());
  const fetchImpl = options.fetch ?? fetch;
  let held: Held | undefined;
  let version = 0;
  let inflight: Promise<void> | undefined;
  let lastAttemptMs = Number.NEGATIVE_INFINITY;
  let retryMs = RETRY_MIN_MS;
  let lastFailed = false;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;

  const usable = (): Held | undefined =>
    held !== undefined && now() - held.fetchedAtMs <= maxAgeMs ? held : undefined;

  const load = (): Promise<Held> => fetchKeySet(uri, fetchImpl, { timeoutMs, maxBytes, now });

  const schedule = (): void => {
    if (closed) return;
    clearTimeout(timer);
    // After a failure, sooner (backing off): a held set keeps its age, and is not usable past maxAgeMs.
    const wait = lastFailed ? retryMs : refreshMs;
    timer = setTimeout(() => void refresh(), wait);
    timer.unref();
  };

  const refresh = (): Promise<void> => {
    if (inflight !== undefined) return inflight;
    lastAttemptMs = now();
    const attempt = (async () => {
      try {
        const next = await load();
        if (held?.text !== next.text) version++;
        held = next;
        retryMs = RETRY_MIN_MS;
        lastFailed = false;
        options.onFetch?.('success', '');
      } catch (e) {
        if (lastFailed) retryMs = Math.min(retryMs * 2, RETRY_MAX_MS);
        lastFailed = true;
        options.onFetch?.('failure', causeOf(e));
      } finally {
        inflight = undefined;
        schedule();
      }
    })();
    inflight = attempt;
    return attempt;
  };

  const keys: JWTVerifyGetKey = async (header, token) => {
    let set = usable();
    // Older than the refresh interval with no failure since (a refresh is due): fetched first, as a cache would.
    // After a failure the held set is used without waiting, while the retries run in the background.
    if (set !== undefined && now() - set.fetchedAtMs > refreshMs && !lastFailed) {
      await refresh();
      set = usable();
    }
    if (set === undefined) {
      if (inflight !== undefined || now() - lastAttemptMs >= ON_DEMAND_MS) await refresh();
      set = usable();
      if (set === undefined) throw new KeysUnavailable('no usable key set');
    }
    try {
      return await set.local(header, token);
    } catch (e) {
      if (!(e instanceof joseErrors.JWKSNoMatchingKey) || now() - lastAttemptMs < kidCooldownMs) throw e;
      await refresh();
      const again = usable();
      if (again === undefined || again === set) throw e;
      return again.local(header, token);
    }
  };

  void refresh();
  return {
    keys,
    version: () => version,
    // A cached verification is reused while the set is within its refresh interval; after that it is verified again
    // (against the held set until maxAgeMs, so an outage of the URL does not fail tokens already verified).
    current: () => held !== undefined && now() - held.fetchedAtMs <= refreshMs,
    status: () => ({ kind: 'url', available: usable() !== undefined, loadedAtMs: held?.fetchedAtMs }),
    refresh,
    close: () => {
      closed = true;
      clearTimeout(timer);
    },
  };
}
