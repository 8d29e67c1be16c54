/**
 * The containment states in force, shared by the replicas through one directory: one `<agent>.containment.json`
 * per contained agent, written by atomic rename and reloaded off the Check path (reload/watch-reload.ts). A state
 * this replica enters is in force here at once; another replica's within the poll interval. A state that expires
 * or is lifted is reported through `onChange` like any other change.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ok } from '../model/index.js';
import { watchReload } from '../reload/index.js';
import { ContainmentStateSchema, type ContainmentState } from './containment.js';

export interface ContainmentStore {
  /** The state in force for an agent (expired states are ignored). */
  get(agent: string, nowMs: number): ContainmentState | undefined;
  /** Enters containment (atomic write; visible to other replicas at their next poll). */
  enter(state: ContainmentState): void;
  lift(agent: string): boolean;
  list(nowMs: number): ContainmentState[];
  /** Re-reads the directory now. */
  refresh(): void;
  close: () => void;
}

const SUFFIX = '.containment.json';
const fileOf = (dir: string, agent: string): string => path.join(dir, `${agent}${SUFFIX}`);
const active = (s: ContainmentState | undefined, nowMs: number): ContainmentState | undefined =>
  s !== undefined && Date.parse(s.until) > nowMs ? s : undefined;

/** The unexpired states in the directory; a state in force whose file cannot be read now is kept. */
function readStates(dir: string, keep: ReadonlyMap<string, ContainmentState>): Map<string, ContainmentState> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((f) => f.endsWith(SUFFIX));
  } catch {
    return new Map(keep); // keep the last view if the mount hiccups
  }
  const next = new Map<string, ContainmentState>();
  const now = Date.now();
  for (const f of names) {
    let r;
    try {
      r = ContainmentStateSchema.safeParse(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
    } catch {
      // Unreadable now (a file being replaced, an I/O error on the shared mount): a containment in force stays in
      // force; the file's next change is read again.
      const kept = keep.get(f.slice(0, -SUFFIX.length));
      if (kept !== undefined && active(kept, now) !== undefined) next.set(kept.agent, kept);
      continue;
    }
    // Expired states drop out here, so their end is reported like a lift.
    if (r.success && active(r.data, now) !== undefined) next.set(r.data.agent, r.data);
  }
  return next;
}

export function createContainmentStore(
  dir: string,
  pollMs = 1000,
  onChange?: (agent: string, state: ContainmentState | undefined) => void,
): ContainmentStore {
  mkdirSync(dir, { recursive: true });
  let states = new Map<string, ContainmentState>();
  const apply = (next: Map<string, ContainmentState>): void => {
    const before = states;
    states = next;
    for (const a of new Set([...before.keys(), ...next.keys()])) {
      if (JSON.stringify(before.get(a)) !== JSON.stringify(next.get(a))) onChange?.(a, next.get(a));
    }
  };
  const watched = watchReload({
    paths: () => [dir],
    entryFilter: (f) => f.endsWith(SUFFIX),
    // An expiry changes no file: count the expired states too, so the reload that drops them happens.
    volatile: () => String([...states.values()].filter((s) => active(s, Date.now()) === undefined).length),
    load: () => ok(readStates(dir, states)),
    onReloaded: apply,
    pollMs,
    // No settle interval: state files are written by rename, and a file read while being written does not parse
    // (a JSON object is incomplete until its last byte), which readStates treats as unreadable until it changes again.
    settleMs: 0,
  });
  if (!watched.ok) throw watched.error; // readStates never fails: a bug
  const w = watched.value;
  apply(w.current());
  return {
    get: (agent, now) => active(states.get(agent), now),
    enter(state) {
      const f = fileOf(dir, state.agent);
      writeFileSync(`${f}.tmp`, JSON.stringify(state));
      renameSync(`${f}.tmp`, f);
      states.set(state.agent, state);
    },
    lift(agent) {
      const had = states.delete(agent);
      rmSync(fileOf(dir, agent), { force: true });
      return had;
    },
    list: (now) =>
      [...states.values()].filter((s) => active(s, now) !== undefined).sort((a, b) => (a.agent < b.agent ? -1 : 1)),
    refresh: () => {
      w.reload();
    },
    close: w.close,
  };
}
