/**
 * The BAA registry in force, hot-reloaded (reload/watch-reload.ts): a changed file takes effect within the watch
 * debounce (or the poll interval, 1 s, where file events are not delivered), without a restart and without any file
 * access on the Check path. An invalid new file keeps the last good registry and fires `onReloadFailed` (log +
 * metric); never fails open.
 */
import { watchReload } from '../reload/index.js';
import { loadBaaRegistry, type BaaRegistry } from './baa-registry.js';

export interface BaaStore {
  current(): BaaRegistry;
  /** Re-reads now; returns whether the registry in force is current. */
  refresh(): boolean;
  close(): void;
}

export function createBaaStore(
  file: string,
  events: { onReloaded?: (version: string) => void; onReloadFailed?: (error: string, kept: string) => void } = {},
  pollMs = 1000,
): { ok: true; store: BaaStore } | { ok: false; error: string } {
  const r = watchReload<BaaRegistry, string>({
    paths: () => [file],
    load: () => {
      const l = loadBaaRegistry(file);
      return l.ok ? { ok: true, value: l.registry } : { ok: false, error: l.error };
    },
    same: (a, b) => a.version === b.version,
    onReloaded: (reg) => events.onReloaded?.(reg.version),
    onReloadFailed: (error, kept) => events.onReloadFailed?.(error, kept.version),
    pollMs,
  });
  if (!r.ok) return r;
  const w = r.value;
  return { ok: true, store: { current: w.current, refresh: w.reload, close: w.close } };
}
