/**
 * The BAA registry in force, hot-reloaded (reload/watch-reload.ts): a changed file takes effect within the watch
 * debounce (or the poll interval, 1 s, where file events are not delivered), without a restart and without any file
 * access on the Check path. An invalid new file keeps the last good registry and fires `onReloadFailed` (log +
 * metric); never fails open.
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

export function createBaaStore(
  file: string,
  events: { onReloaded?: (version: string) => void; onReloadFailed?: (error: string, kept: string) => void } = {},
  pollMs = 1000,
): Result<BaaStore> {
  const r = watchReload<BaaRegistry>({
    paths: () => [file],
    load: () => readBaaRegistry(file),
    same: (a, b) => a.version === b.version,
    onReloaded: (reg) => events.onReloaded?.(reg.version),
    onReloadFailed: (error, kept) => events.onReloadFailed?.(error.message, kept.version),
    pollMs,
  });
  if (!r.ok) return r;
  const w = r.value;
  return { ok: true, value: { current: w.current, refresh: w.reload, close: w.close } };
}
