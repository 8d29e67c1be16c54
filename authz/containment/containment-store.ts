/**
 * The containment states in force, shared by the replicas through one directory (containment-files.ts), reloaded
 * off the Check path (reload/watch-reload.ts). A state this replica enters is in force here at once; another
 * replica's within the poll interval. A state that ends (lifted, expired, or its file removed) is reported through
 * `onChange` with how it ended.
 */
import { ok, PhiguardError } from '../model/index.js';
import { ensurePrivateDir, type PrivacyKey } from '../privacy/index.js';
import { watchReload } from '../reload/index.js';
import {
  containmentStateOf,
  contextMatcher,
  type ContainmentEntryState,
  type ContainmentState,
} from './containment.js';
import {
  CONTAINMENT_SUFFIX,
  containmentFile,
  inForce,
  listContainmentFiles,
  readContainmentFile,
  writeContainmentState,
  type LiftRecord,
} from './containment-files.js';

/** How a containment ended. */
export type ContainmentEnd =
  | ({ how: 'lifted' } & LiftRecord)
  /** `until` passed. */
  | { how: 'expired' }
  /** The file went away without a lift (deleted by hand). */
  | { how: 'removed' };

export interface ContainmentStoreOptions {
  /** Poll interval (default 1000 ms). */
  pollMs?: number;
  /**
   * Told after the store holds the new state: an agent's state in force (`state`), or its end (`state` undefined,
   * `ended` how, `previous` the state that ended).
   */
  onChange?: (
    agent: string,
    state: ContainmentState | undefined,
    ended?: { end: ContainmentEnd; previous: ContainmentState },
  ) => void;
  /** Keys `pause` contexts; without it `pause` is entered as `stop` (containment.ts). */
  privacyKey?: PrivacyKey | undefined;
}

export interface ContainmentStore {
  /** The state in force for an agent (lifted and expired states are not). */
  get(agent: string, nowMs: number): ContainmentState | undefined;
  /**
   * Enters containment (0600, atomic; visible to other replicas at their next poll). `context` is read only for
   * `pause`. Returns the state written, which is in force here at once.
   */
  enter(entry: ContainmentEntryState, context: () => readonly string[]): ContainmentState;
  /** Whether a patient is in a `pause` state's context (false without the key the state was keyed with). */
  inContext(state: ContainmentState, patient: string): boolean;
  list(nowMs: number): ContainmentState[];
  /** Re-reads the directory now. */
  refresh(): void;
  close: () => void;
}

interface Loaded {
  /** The states in force, by agent. */
  active: Map<string, ContainmentState>;
  /** Lifted states, by agent (to say who ended a containment). */
  lifted: Map<string, ContainmentState>;
}

/** The states in the directory; a state in force whose file cannot be read now is kept. */
function readStates(dir: string, keep: ReadonlyMap<string, ContainmentState>): Loaded {
  const names = listContainmentFiles(dir);
  if (!names.ok) return { active: new Map(keep), lifted: new Map() }; // keep the last view if the mount hiccups
  const out: Loaded = { active: new Map(), lifted: new Map() };
  const now = Date.now();
  for (const f of names.value) {
    const agent = f.slice(0, -CONTAINMENT_SUFFIX.length);
    const r = readContainmentFile(containmentFile(dir, agent));
    if (!r.ok) {
      // Unreadable now (an I/O error on the shared mount, a file another writer is replacing): a containment in
      // force stays in force; the file's next change is read again.
      const kept = keep.get(agent);
      if (inForce(kept, now)) out.active.set(agent, kept);
      continue;
    }
    if (r.value.lifted !== undefined) out.lifted.set(r.value.agent, r.value);
    // Expired states drop out here, so their end is reported like a lift.
    else if (inForce(r.value, now)) out.active.set(r.value.agent, r.value);
  }
  return out;
}

function endOf(agent: string, previous: ContainmentState, loaded: Loaded): ContainmentEnd {
  const lifted = loaded.lifted.get(agent)?.lifted;
  if (lifted !== undefined) return { how: 'lifted', ...lifted };
  return Date.parse(previous.until) <= Date.now() ? { how: 'expired' } : { how: 'removed' };
}

/**
 * Opens the store over `dir`, creating it (0700) when missing.
 * @throws PhiguardError `io` when the directory cannot be created or listed.
 */
export function createContainmentStore(dir: string, options: ContainmentStoreOptions = {}): ContainmentStore {
  try {
    ensurePrivateDir(dir);
  } catch (e) {
    throw new PhiguardError('io', `${dir}: cannot create (${(e as NodeJS.ErrnoException).code ?? 'error'})`, {
      cause: e,
    });
  }
  const listed = listContainmentFiles(dir);
  if (!listed.ok) throw listed.error;
  const key = options.privacyKey;
  let states = new Map<string, ContainmentState>();
  const inContext = contextMatcher(key);
  const apply = (next: Loaded): void => {
    const before = states;
    states = next.active;
    for (const a of new Set([...before.keys(), ...next.active.keys()])) {
      const prev = before.get(a);
      const cur = next.active.get(a);
      if (JSON.stringify(prev) === JSON.stringify(cur)) continue;
      if (cur === undefined && prev !== undefined) {
        options.onChange?.(a, undefined, { end: endOf(a, prev, next), previous: prev });
      } else {
        options.onChange?.(a, cur);
      }
    }
  };
  const watched = watchReload({
    paths: () => [dir],
    entryFilter: (f) => f.endsWith(CONTAINMENT_SUFFIX),
    // The states held in memory, and which have expired: a look that finds the directory unlike them reloads. So an
    // expiry (no file changes) is reported, and so is a file removed before this replica's own write was looked at
    // (a lift right after an entry): the directory is compared with what this replica holds, not with what it last
    // read.
    volatile: () =>
      [...states.values()]
        .map((s) => `${s.agent}:${inForce(s, Date.now()) ? 1 : 0}`)
        .sort()
        .join(','),
    load: () => ok(readStates(dir, states)),
    onReloaded: apply,
    pollMs: options.pollMs ?? 1000,
    // No settle interval: state files are written by rename, and a file read while being written does not parse
    // (a JSON object is incomplete until its last byte), which readStates treats as unreadable until it changes again.
    settleMs: 0,
  });
  if (!watched.ok) throw watched.error; // readStates never fails: a bug
  const w = watched.value;
  apply(w.current());
  return {
    get: (agent, now) => {
      const s = states.get(agent);
      return inForce(s, now) ? s : undefined;
    },
    enter(entry, context) {
      const state = containmentStateOf(entry, context, key);
      writeContainmentState(dir, state);
      states.set(state.agent, state);
      options.onChange?.(state.agent, state);
      return state;
    },
    inContext,
    list: (now) => [...states.values()].filter((s) => inForce(s, now)).sort((a, b) => (a.agent < b.agent ? -1 : 1)),
    refresh: () => {
      w.reload();
    },
    close: w.close,
  };
}
