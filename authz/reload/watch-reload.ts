/**
 * The one file-watch-and-reload mechanism behind every hot-reloaded input (policy directory, BAA registry, egress
 * credential secrets, JWKS file, containment states), so each is a snapshot refreshed off the Check path.
 *
 * A source is both watched (`fs.watch`, quick pickup) and polled (a cheap signature of names, sizes, mtimes, ctimes,
 * inodes and symbolic link targets), because Kubernetes updates ConfigMap and Secret volumes by swapping a `..data`
 * symlink, which file events report unreliably across platforms.
 *
 * A reload happens only for a source that has stopped changing: its signature must stay the same for the settle
 * interval (`settleMs`), so a file written in chunks (an editor, `kubectl cp`, a script appending) is never loaded
 * half-written as long as the writer's pauses are shorter than that. A change that is recognisably complete when it
 * is seen applies at once (`atomicChange`): a volume's `..data` link pointing somewhere new, an entry removed, a
 * symbolic link retargeted, or (where the watch is inotify) a file that appeared or was replaced by a rename. A load
 * during which the files changed is not applied.
 *
 * A reload builds the new value completely and swaps one reference: a Check sees the old value or the new one, never
 * a mix. A load that fails keeps the last good value in force, marks the source stale and reports why; it never fails
 * open.
 */
import { lstatSync, readdirSync, readlinkSync, statSync, watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { PhiguardError, Result } from '../model/index.js';

/** How long a changed source must stay unchanged before it is reloaded, unless the change was atomic. */
export const DEFAULT_SETTLE_MS = 1000;

export interface Reloading<T> {
  /** The value in force. */
  current: () => T;
  /** Whether the last load failed (the value in force is older than the files). */
  stale: () => boolean;
  /** Loads now, without waiting for the source to settle; returns whether the load succeeded. */
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
  /** Delay after a watch event before the source is looked at (default 150 ms): a burst of events is one look. */
  debounceMs?: number;
  /**
   * How long a change must stay unchanged before it is loaded (default `DEFAULT_SETTLE_MS`); atomic changes apply at
   * once. 0 loads every change after the debounce (for sources that can never be read half-written).
   */
  settleMs?: number;
  /** Watch the paths' directories too (default true). */
  watch?: boolean;
}

/** One entry of a source as observed: its stat summary, inode and link target. */
interface EntryState {
  /** `size:mtimeNs:ctimeNs:ino` (following links), or an errno code. */
  stat: string;
  ino: string;
  size: bigint;
  /** The target of a symbolic link, `''` for anything else. */
  link: string;
}

/** A source as observed at one moment. */
interface Observation {
  entries: ReadonlyMap<string, EntryState>;
  volatile: string;
  /** Everything above as one string, for a cheap comparison. */
  key: string;
}

/** Kubernetes' AtomicWriter (ConfigMap, Secret, projected volumes) publishes each version by renaming this link. */
const DATA_LINK = '..data';

function entryState(p: string): EntryState {
  try {
    const l = lstatSync(p, { bigint: true });
    const link = l.isSymbolicLink() ? readlinkSync(p) : '';
    const s = l.isSymbolicLink() ? statSync(p, { bigint: true }) : l;
    return { stat: `${s.size}:${s.mtimeNs}:${s.ctimeNs}:${s.ino}`, ino: String(s.ino), size: s.size, link };
  } catch (e) {
    let link = '';
    try {
      link = readlinkSync(p); // a dangling link still has a target
    } catch {
      // not a link
    }
    return { stat: (e as NodeJS.ErrnoException).code ?? 'unreadable', ino: '', size: 0n, link };
  }
}

/** Adds a directory's `..data` link when it has one. */
function addDataLink(dir: string, out: Map<string, EntryState>): void {
  const p = path.join(dir, DATA_LINK);
  try {
    out.set(p, { stat: 'link', ino: '', size: 0n, link: readlinkSync(p) });
  } catch {
    // no AtomicWriter volume here
  }
}

function isDirectory(p: string): boolean {
  try {
    return statSync(p).isDirectory();
  } catch {
    return false;
  }
}

function observe(paths: readonly string[], entryFilter: (name: string) => boolean, volatile: string): Observation {
  const entries = new Map<string, EntryState>();
  for (const p of paths) {
    if (!isDirectory(p)) {
      entries.set(path.normalize(p), entryState(p));
      addDataLink(path.dirname(p), entries);
      continue;
    }
    let names: string[] = [];
    try {
      names = readdirSync(p).filter(entryFilter);
    } catch (e) {
      entries.set(path.normalize(p), {
        stat: (e as NodeJS.ErrnoException).code ?? 'unreadable',
        ino: '',
        size: 0n,
        link: '',
      });
    }
    for (const f of names) entries.set(path.join(p, f), entryState(path.join(p, f)));
    addDataLink(p, entries);
  }
  const parts = [...entries].map(([p, e]) => `${p}=${e.stat}>${e.link}`).sort();
  return { entries, volatile, key: `${parts.join('|')}#${volatile}` };
}

/** A cheap signature of the paths: their entries' names, sizes, mtimes, ctimes, inodes and link targets. */
export function signatureOf(paths: readonly string[], entryFilter: (name: string) => boolean = () => true): string {
  return observe(paths, entryFilter, '').key;
}

/** What the watch reported for a path since the last load: only renames, or a write too. */
type Seen = 'renamed' | 'written';

/**
 * Whether the change from `before` to `after` is complete as it stands, so it can apply without settling:
 * - a `..data` link that points elsewhere: the volume's new version was written in full before the link moved;
 * - an entry removed, or a symbolic link pointing elsewhere (the link itself changes in one step);
 * - with `renames` (inotify: a write is `IN_MODIFY`, reported apart from `IN_CREATE`/`IN_MOVED_TO`), a non-empty file
 *   under a new inode for which only renames were reported: it was written elsewhere and renamed into place.
 * Anything else (a file written in place, or seen without events) settles.
 */
function atomicChange(before: Observation, after: Observation, seen: ReadonlyMap<string, Seen> | undefined): boolean {
  const names = new Set([...before.entries.keys(), ...after.entries.keys()]);
  for (const p of names) {
    if (path.basename(p) !== DATA_LINK) continue;
    if (before.entries.get(p)?.link !== after.entries.get(p)?.link) return true;
  }
  for (const p of names) {
    const a = before.entries.get(p);
    const b = after.entries.get(p);
    if (a?.stat === b?.stat && a?.link === b?.link) continue;
    if (b === undefined || (b.link !== '' && b.link !== a?.link)) continue;
    const renamedIn = b.ino !== '' && b.ino !== a?.ino && b.size > 0n && seen?.get(p) === 'renamed';
    if (!renamedIn) return false;
  }
  return true;
}

/**
 * Watches the directories of the paths. `onEvent` gets the path an event names (undefined when it names none);
 * `onBroken` when a watch fails (its events can no longer be relied on).
 */
function watchDirs(
  paths: readonly string[],
  onEvent: (kind: string, p: string | undefined) => void,
  onBroken: () => void,
): FSWatcher[] {
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
      const w = watch(d, { persistent: false }, (kind, name) =>
        onEvent(kind, typeof name === 'string' ? path.join(d, name) : undefined),
      );
      w.on('error', onBroken); // polling still covers the source
      watchers.push(w);
    } catch {
      onBroken(); // no watch on this platform or path: polling covers it
    }
  }
  return watchers;
}

/** Loads the source once (returning its error if that fails) and keeps it reloaded. */
export function watchReload<T, E = PhiguardError>(options: ReloadOptions<T, E>): Result<Reloading<T>, E> {
  const filter = options.entryFilter ?? (() => true);
  const look = (): Observation => observe(options.paths(), filter, options.volatile?.() ?? '');
  let applied = look();
  const first = options.load();
  if (!first.ok) return first;
  let value = first.value;
  let isStale = false;
  const settle = createSettle(
    options,
    () => applied,
    look,
    (seen) => apply(seen),
  );
  /** Loads and swaps in the value when the files did not change during the load. */
  const apply = (seen: Observation): boolean => {
    const r = options.load();
    const after = look();
    if (after.key !== seen.key) {
      settle.later(); // changed while loading: look again
      return false;
    }
    applied = seen;
    settle.loaded();
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
  return {
    ok: true,
    value: { current: () => value, stale: () => isStale, reload: () => apply(look()), close: settle.close },
  };
}

/** The watch, the poll and the settle timer of one source: when to look, and whether what is seen may load. */
function createSettle<T, E>(
  options: ReloadOptions<T, E>,
  applied: () => Observation,
  look: () => Observation,
  apply: (seen: Observation) => void,
): { later: () => void; loaded: () => void; close: () => void } {
  const settleMs = options.settleMs ?? DEFAULT_SETTLE_MS;
  const debounceMs = options.debounceMs ?? 150;
  // Only inotify reports a write (IN_MODIFY) apart from a name appearing; elsewhere a rename is not recognisable.
  let seen: Map<string, Seen> | undefined = process.platform === 'linux' ? new Map() : undefined;
  let pending: { key: string; since: number } | undefined;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  const check = (): void => {
    timer = undefined;
    if (closed) return;
    const now = look();
    if (now.key === applied().key) {
      pending = undefined;
      seen?.clear(); // events about other files of the directory, or changes already loaded
      return;
    }
    if (settleMs === 0 || atomicChange(applied(), now, seen)) return apply(now);
    const t = performance.now();
    if (pending?.key !== now.key) pending = { key: now.key, since: t };
    const left = pending.since + settleMs - t;
    if (left <= 0) return apply(now);
    arm(left);
  };
  const arm = (ms: number): void => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(check, ms);
    timer.unref();
  };
  const onEvent = (kind: string, p: string | undefined): void => {
    if (p !== undefined && seen?.get(p) !== 'written') seen?.set(p, kind === 'change' ? 'written' : 'renamed');
    arm(debounceMs);
  };
  const watchers = options.watch === false ? [] : watchDirs(options.paths(), onEvent, () => (seen = undefined));
  if (watchers.length === 0) seen = undefined;
  const poll = setInterval(() => {
    if (timer === undefined) check();
  }, options.pollMs ?? 1000);
  poll.unref();
  return {
    later: () => arm(debounceMs),
    loaded: () => {
      pending = undefined;
      seen?.clear();
    },
    close: () => {
      closed = true;
      clearInterval(poll);
      if (timer) clearTimeout(timer);
      for (const w of watchers) w.close();
    },
  };
}
