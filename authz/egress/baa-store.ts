/**
 * The BAA registry in force, hot-reloaded: a change takes effect at the next request, without restart. An invalid
 * new file keeps the last good registry and fires `onReloadFailed` (log + metric); never fails open.
 */
import { statSync } from 'node:fs';
import { loadBaaRegistry, type BaaRegistry } from './baa-registry.js';

export interface BaaStore {
  current(): BaaRegistry;
  /** Re-reads now if the file changed; returns whether the registry in force is current. */
  refresh(): boolean;
  close(): void;
}

export function createBaaStore(
  file: string,
  events: { onReloaded?: (version: string) => void; onReloadFailed?: (error: string, kept: string) => void } = {},
  pollMs = 1000,
): { ok: true; store: BaaStore } | { ok: false; error: string } {
  const first = loadBaaRegistry(file);
  if (!first.ok) return first;
  let reg = first.registry;
  const sig = (): string => {
    try {
      const s = statSync(file);
      return `${s.size}:${s.mtimeMs}`;
    } catch {
      return 'missing';
    }
  };
  let last = sig();
  let stale = false;
  const refresh = (): boolean => {
    const now = sig();
    if (now === last) return !stale;
    last = now;
    const r = loadBaaRegistry(file);
    if (!r.ok) {
      stale = true;
      events.onReloadFailed?.(r.error, reg.version);
      return false;
    }
    stale = false;
    if (r.registry.version !== reg.version) {
      reg = r.registry;
      events.onReloaded?.(reg.version);
    }
    return true;
  };
  const timer = setInterval(refresh, pollMs);
  timer.unref();
  return { ok: true, store: { current: () => reg, refresh, close: () => clearInterval(timer) } };
}
