/**
 * Holds the current compiled policy set and hot-reloads it.
 *
 * Kubernetes ConfigMap volumes update by swapping a `..data` symlink, which `fs.watch` reports unreliably across
 * platforms, so the store both watches the directory and polls a cheap signature (names, sizes, mtimes). A reload
 * compiles the whole set first and swaps one reference: a request sees the old set or the new one, never a mix.
 * An invalid new set is rejected, the last good set stays in force, and `onReloadFailed` fires (log + metric).
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import { loadPolicyDir } from './load-policies.js';
import type { CompiledPolicySet } from './compile-policy.js';
import type { Finding } from './finding.js';

export interface PolicyStoreEvents {
  onReloaded?: (set: CompiledPolicySet) => void;
  onReloadFailed?: (findings: Finding[], keptVersion: string) => void;
}

export interface PolicyStore {
  /** The set in force. */
  current(): CompiledPolicySet;
  /** Reloads now; returns whether the new set was accepted. */
  reload(): boolean;
  /** Whether the last reload attempt failed (the set in force is older than the files). */
  stale(): boolean;
  close(): void;
}

function signature(dir: string): string {
  try {
    return readdirSync(dir)
      .filter((f) => /\.ya?ml$/.test(f) || f === '..data')
      .sort()
      .map((f) => {
        const s = statSync(path.join(dir, f));
        return `${f}:${s.size}:${s.mtimeMs}`;
      })
      .join('|');
  } catch {
    return 'unreadable';
  }
}

/**
 * Loads the directory once (returning findings if that fails: the service must not start without policy) and
 * starts watching it.
 */
export function createPolicyStore(
  dir: string,
  events: PolicyStoreEvents = {},
  options: { pollMs?: number; watch?: boolean } = {},
): { ok: true; store: PolicyStore } | { ok: false; findings: Finding[] } {
  const first = loadPolicyDir(dir);
  if (!first.ok) return { ok: false, findings: first.findings };
  let set = first.set;
  let isStale = false;
  let sig = signature(dir);
  let watcher: FSWatcher | undefined;
  let debounce: NodeJS.Timeout | undefined;

  const reload = (): boolean => {
    sig = signature(dir);
    const r = loadPolicyDir(dir);
    if (!r.ok) {
      isStale = true;
      events.onReloadFailed?.(r.findings, set.version);
      return false;
    }
    isStale = false;
    if (r.set.version !== set.version) {
      set = r.set;
      events.onReloaded?.(set);
    }
    return true;
  };
  const schedule = (): void => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (signature(dir) !== sig) reload();
    }, 150);
    debounce.unref();
  };
  if (options.watch !== false) {
    try {
      watcher = watch(dir, { persistent: false }, schedule);
      watcher.on('error', () => undefined); // polling still covers us
    } catch {
      watcher = undefined;
    }
  }
  const poll = setInterval(() => {
    if (signature(dir) !== sig) schedule();
  }, options.pollMs ?? 2_000);
  poll.unref();

  return {
    ok: true,
    store: {
      current: () => set,
      reload,
      stale: () => isStale,
      close: () => {
        clearInterval(poll);
        if (debounce) clearTimeout(debounce);
        watcher?.close();
      },
    },
  };
}
