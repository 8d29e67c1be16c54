/**
 * The containment directory on disk: one `<agent>.containment.json` per agent, written 0600 by atomic rename
 * (privacy/private-file.ts). Read by the store (every replica) and by `phiguard status` / `phiguard contain lift`,
 * which must tell an empty directory from one they cannot read.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { err, ok, PhiguardError, type Result } from '../model/index.js';
import { writePrivateFile } from '../privacy/index.js';
import { ContainmentStateSchema, type ContainmentState } from './containment.js';

export const CONTAINMENT_SUFFIX = '.containment.json';

export const containmentFile = (dir: string, agent: string): string => path.join(dir, `${agent}${CONTAINMENT_SUFFIX}`);

/** Whether a state holds now: not lifted, not expired. */
export const inForce = (s: ContainmentState | undefined, nowMs: number): s is ContainmentState =>
  s !== undefined && s.lifted === undefined && Date.parse(s.until) > nowMs;

/** One state file: its state, or why it could not be read (`io`: the file; `data`: its content). */
export function readContainmentFile(file: string): Result<ContainmentState> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return err(new PhiguardError('io', `${file}: cannot read (${code})`, { cause: e }));
  }
  try {
    const r = ContainmentStateSchema.safeParse(JSON.parse(text));
    if (r.success) return ok(r.data);
    return err(new PhiguardError('data', `${file}: not a containment state (${r.error.issues[0]?.message ?? ''})`));
  } catch (e) {
    return err(new PhiguardError('data', `${file}: not JSON`, { cause: e }));
  }
}

/** The state file names in a directory, or an `io` error when the directory is missing or cannot be listed. */
export function listContainmentFiles(dir: string): Result<string[]> {
  try {
    return ok(
      readdirSync(dir)
        .filter((f) => f.endsWith(CONTAINMENT_SUFFIX))
        .sort(),
    );
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'ENOTDIR' ? 'is not a directory' : `cannot be read (${code})`;
    return err(new PhiguardError('io', `containment directory ${dir} ${why}`, { cause: e }));
  }
}

/** Writes a state (0600, atomic). */
export function writeContainmentState(dir: string, state: ContainmentState): void {
  writePrivateFile(containmentFile(dir, state.agent), JSON.stringify(state));
}

/** Who lifted a containment, and why. */
export interface LiftRecord {
  by: string;
  reason: string;
  /** ISO time. */
  at: string;
}

/**
 * Lifts an agent's containment: its file is rewritten as lifted (by whom, why, when), without its patient context,
 * so every replica reports who ended it. Returns the lifted state, `undefined` when the agent is not contained, or
 * an `io`/`data` error (the directory or the agent's file cannot be read or written).
 */
export function liftContainment(dir: string, agent: string, lift: LiftRecord): Result<ContainmentState | undefined> {
  const names = listContainmentFiles(dir);
  if (!names.ok) return names;
  if (!names.value.includes(`${agent}${CONTAINMENT_SUFFIX}`)) return ok(undefined);
  const cur = readContainmentFile(containmentFile(dir, agent));
  if (!cur.ok) return cur;
  if (!inForce(cur.value, Date.parse(lift.at))) return ok(undefined);
  const lifted: ContainmentState = { ...cur.value, contextPatients: [], salt: '', lifted: lift };
  try {
    writeContainmentState(dir, lifted);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    return err(new PhiguardError('io', `${containmentFile(dir, agent)}: cannot write (${code})`, { cause: e }));
  }
  return ok(lifted);
}
