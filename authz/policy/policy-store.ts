/**
 * The compiled policy set in force, hot-reloaded (reload/watch-reload.ts): a reload compiles the whole directory
 * first and swaps one reference, so a Check sees the old set or the new one, never a mix. An invalid new set is
 * rejected, the last good set stays in force, and `onReloadFailed` fires (log + metric).
 */
import { ok, type Finding, type Result } from '../model/index.js';
import { watchReload } from '../reload/index.js';
import type { CompiledPolicySet } from './compile-policy.js';
import { readPolicyDir } from './load-policies.js';

export interface PolicyStoreEvents {
  onReloaded?: (set: CompiledPolicySet) => void;
  onReloadFailed?: (findings: Finding[], keptVersion: string) => void;
  /** The directory loads again after a failed reload (it may be the set already in force). */
  onRecovered?: () => void;
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

/** Policy files, as load-policies.ts reads them (the reloader watches a ConfigMap volume's `..data` link itself). */
const counts = (name: string): boolean => !name.startsWith('.') && /\.ya?ml$/.test(name);

/**
 * Loads the directory once (an error with findings if that fails: the service must not start without policy) and
 * keeps it reloaded. A directory being written is loaded once it has stopped changing for `settleMs`
 * (reload/watch-reload.ts), so a file written in chunks with shorter pauses is never in force half-written; a rename
 * or a ConfigMap update applies at once.
 */
export function createPolicyStore(
  dir: string,
  events: PolicyStoreEvents = {},
  options: { pollMs?: number; watch?: boolean; settleMs?: number } = {},
): Result<PolicyStore> {
  return watchReload<CompiledPolicySet>({
    paths: () => [dir],
    entryFilter: counts,
    load: () => {
      const l = readPolicyDir(dir);
      return l.ok ? ok(l.value.set) : l;
    },
    same: (a, b) => a.version === b.version,
    ...(events.onReloaded ? { onReloaded: events.onReloaded } : {}),
    onReloadFailed: (error, kept) => events.onReloadFailed?.(error.findings, kept.version),
    ...(events.onRecovered ? { onRecovered: events.onRecovered } : {}),
    pollMs: options.pollMs ?? 2_000,
    ...(options.watch !== undefined ? { watch: options.watch } : {}),
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
  });
}
