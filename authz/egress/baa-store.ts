/**
 * The BAA registry in force, hot-reloaded (reload/watch-reload.ts) without a restart and without any file access on
 * the Check path. An atomic change (a rename into place, a ConfigMap/Secret `..data` swap) takes effect within the
 * watch debounce (or the 1 s poll, where file events are not delivered); a file written in place once it has been
 * unchanged for the settle interval. An invalid new file keeps the last good registry and fires `onReloadFailed`
 * (log + metric); never fails open.
 */
import type { Result } from '../model/index.js';
import { watchReload } from '../reload/index.js';
import { readBaaRegistry, type BaaRegistry } from './baa-registry.js';

export interface BaaStore {
  current: () => BaaRegistry;
  /** Re-reads now; returns whether the registry in force is current. */
  refresh: () => boolean;
  close: () => void;
}

export interface BaaStoreOptions {
  /** Poll interval (default 1000 ms). */
  pollMs?: number;
  /** How long a file written in place must stay unchanged before it loads (default `DEFAULT_SETTLE_MS`). */
  settleMs?: number;
}

export function createBaaStore(
  file: string,
  events: { onReloaded?: (version: string) => void; onReloadFailed?: (error: string, kept: string) => void } = {},
  options: BaaStoreOptions = {},
): Result<BaaStore> {
  const r = watchReload<BaaRegistry>({
    paths: () => [file],
    load: () => readBaaRegistry(file),
    same: (a, b) => a.version === b.version,
    onReloaded: (reg) => events.onReloaded?.(reg.version),
    onReloadFailed: (error, kept) => events.onReloadFailed?.(error.message, kept.version),
    pollMs: options.pollMs ?? 1000,
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
  });
  if (!r.ok) return r;
  const w = r.value;
  return { ok: true, value: { current: w.current, refresh: w.reload, close: w.close } };
}
