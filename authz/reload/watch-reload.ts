/**
 * The one file-watch-and-reload mechanism behind every hot-reloaded input (policy directory, BAA registry, egress
 * credential secrets, containment states), so each is a snapshot refreshed off the Check path.
 *
 * Kubernetes updates ConfigMap and Secret volumes by swapping a `..data` symlink, which `fs.watch` reports
 * unreliably across platforms, so a source is both watched (quick pickup, debounced) and polled (a cheap signature
 * of names, sizes, mtimes and inodes). A reload builds the new value completely and swaps one reference: a Check
 * sees the old value or the new one, never a mix. A load that fails keeps the last good value in force, marks the
 * source stale and reports why; it never fails open.
 */
import { readdirSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { PhiguardError, Result } from '../model/index.js';

export interface Reloading<T> {
  /** The value in force. */
  current: () => T;
  /** Whether the last load failed (the value in force is older than the files). */
  stale: () => boolean;
  /** Loads now; returns whether the load succeeded. */
  reload: () => boolean;
  close: () => void;
}

export interface ReloadOptions<T, E = PhiguardError> {
  /** Files or directories whose change means a reload (a directory's entries are included, not recursively). */
  paths: () => readonly string[];
  /** Only directory entries whose names pass this filter count (default: all). */
  entryFilter?: (name: string) => boolean;
  /** Something besides the files whose change also means a reload (e.g. how many loaded entries have expired). */
  volatile?: () => string;
  load: () => Result<T, E>;
  /** Whether two values are the same (then `onReloaded` does not fire and the old reference stays). */
  same?: (a: T, b: T) => boolean;
  onReloaded?: (value: T) => void;
  onReloadFailed?: (error: E, kept: T) => void;
  /** A load succeeded after a failed one (the source is no longer stale), whether or not its value changed. */
  onRecovered?: () => void;
  /** Poll interval (default 1000 ms). */
  pollMs?: number;
  /** Debounce after a watch event (default 150 ms). */
  debounceMs?: number;
  /** Watch the paths' directories too (default true). */
  watch?: boolean;
}

function statSig(p: string): string {
  const s = statSync(p);
  return `${s.size}:${s.mtimeMs}:${s.ino}`;
}

/** A cheap signature of the paths: their entries' names, sizes, mtimes and inodes. Never throws. */
export function signatureOf(paths: readonly string[], entryFilter: (name: string) => boolean = () => true): string {
  const parts: string[] = [];
  for (const p of paths) {
    try {
      const s = statSync(p);
      if (!s.isDirectory()) {
        parts.push(`${p}=${statSig(p)}`);
        continue;
      }
      for (const f of readdirSync(p).filter(entryFilter).sort()) parts.push(`${f}=${statSig(path.join(p, f))}`);
    } catch (e) {
      parts.push(`${p}=${(e as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    }
  }
  return parts.join('|');
}

function watchDirs(paths: readonly string[], onEvent: () => void): FSWatcher[] {
  const dirs = new Set<string>();
  for (const p of paths) {
    try {
      dirs.add(statSync(p).isDirectory() ? p : path.dirname(p));
    } catch {
      dirs.add(path.dirname(p));
    }
  }
  const watchers: FSWatcher[] = [];
  for (const d of dirs) {
    try {
      const w = watch(d, { persistent: false }, onEvent);
      w.on('error', () => undefined); // polling still covers the source
      watchers.push(w);
    } catch {
      // no watch on this platform or path: polling covers it
    }
  }
  return watchers;
}

/** Loads the source once (returning its error if that fails) and keeps it reloaded. */
export function watchReload<T, E = PhiguardError>(options: ReloadOptions<T, E>): Result<Reloading<T>, E> {
  const sig = (): string => `${signatureOf(options.paths(), options.entryFilter)}#${options.volatile?.() ?? ''}`;
  let lastSig = sig();
  const first = options.load();
  if (!first.ok) return first;
  let value = first.value;
  let isStale = false;
  const reload = (): boolean => {
    lastSig = sig();
    const r = options.load();
    if (!r.ok) {
      isStale = true;
      options.onReloadFailed?.(r.error, value);
      return false;
    }
    if (isStale) {
      isStale = false;
      options.onRecovered?.();
    }
    if (options.same?.(value, r.value) !== true) {
      value = r.value;
      options.onReloaded?.(value);
    }
    return true;
  };
  let debounce: NodeJS.Timeout | undefined;
  const schedule = (): void => {
    if (debounce) clearTimeout(debounce);
    debounce = setTimeout(() => {
      debounce = undefined;
      if (sig() !== lastSig) reload();
    }, options.debounceMs ?? 150);
    debounce.unref();
  };
  const watchers = options.watch === false ? [] : watchDirs(options.paths(), schedule);
  const poll = setInterval(() => {
    if (debounce === undefined && sig() !== lastSig) reload();
  }, options.pollMs ?? 1000);
  poll.unref();
  const close = (): void => {
    clearInterval(poll);
    if (debounce) clearTimeout(debounce);
    for (const w of watchers) w.close();
  };
  return { ok: true, value: { current: () => value, stale: () => isStale, reload, close } };
}
