/**
 * Tiered containment. A deny in enforce mode that matches one of the agent's triggers puts the agent into the
 * containment state its policy (or tier) chooses:
 * - `soft-quarantine` (live default): outside egress denied; in-cluster FHIR traffic keeps working, so a live
 *   encounter can finish;
 * - `pause`: only patients already in the agent's active context window (seen in the last `contextMinutes`) are
 *   served; new patients are denied;
 * - `stop` (batch default): everything from the agent is denied;
 * - `alert`: allowed and recorded.
 *
 * Shared state: one JSON file per agent in a directory on a shared mount (ReadWriteMany volume), written by atomic
 * rename, read by every replica on a poll. Staleness bound: the poll interval (default 1 s) plus the write. The
 * patient context of `pause` is stored as salted SHA-256 hashes, never ids. States expire at `until`, or are lifted
 * explicitly (`phiguard contain lift`, which deletes the file).
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';

export const CONTAINMENT_ACTIONS = ['soft-quarantine', 'pause', 'stop', 'alert'] as const;
export type ContainmentAction = (typeof CONTAINMENT_ACTIONS)[number];
export const CONTAINMENT_TRIGGERS = ['baa-violation', 'protected-endpoint', 'outside-envelope', 'rate-limit'] as const;
export type ContainmentTrigger = (typeof CONTAINMENT_TRIGGERS)[number];

export const ContainmentStateSchema = z
  .object({
    agent: z.string(),
    action: z.enum(CONTAINMENT_ACTIONS),
    trigger: z.enum(CONTAINMENT_TRIGGERS),
    since: z.iso.datetime(),
    until: z.iso.datetime(),
    decisionId: z.string(),
    replica: z.string(),
    /** `pause`: salted hashes of the patients in the agent's context window when containment began. */
    contextPatients: z.array(z.string()).default([]),
    salt: z.string().default(''),
  })
  .strict();
export type ContainmentState = z.infer<typeof ContainmentStateSchema>;

/** Which deny reasons are which trigger. */
export function triggerOf(reason: string): ContainmentTrigger | undefined {
  switch (reason) {
    case 'baa-not-covered': return 'baa-violation';
    case 'protected-endpoint': return 'protected-endpoint';
    case 'rate-limited': return 'rate-limit';
    case 'rule-deny': case 'no-rule-matched': return 'outside-envelope';
    default: return undefined;
  }
}

export const hashPatient = (salt: string, id: string): string => createHash('sha256').update(`${salt}\u0000${id}`).digest('hex').slice(0, 32);

export interface ContainmentStore {
  /** The state in force for an agent (expired states are ignored). */
  get(agent: string, nowMs: number): ContainmentState | undefined;
  /** Enters containment (atomic write; visible to other replicas at their next poll). */
  enter(state: ContainmentState): void;
  lift(agent: string): boolean;
  list(nowMs: number): ContainmentState[];
  /** Re-reads the directory now. */
  refresh(): void;
  close(): void;
}

const fileOf = (dir: string, agent: string): string => path.join(dir, `${agent}.containment.json`);

export function createContainmentStore(dir: string, pollMs = 1000, onChange?: (agent: string, state: ContainmentState | undefined) => void): ContainmentStore {
  mkdirSync(dir, { recursive: true });
  let states = new Map<string, ContainmentState>();
  const refresh = (): void => {
    const next = new Map<string, ContainmentState>();
    let names: string[] = [];
    try {
      names = readdirSync(dir).filter((f) => f.endsWith('.containment.json'));
    } catch {
      return; // keep the last view if the mount hiccups
    }
    const now = Date.now();
    for (const f of names) {
      try {
        const r = ContainmentStateSchema.safeParse(JSON.parse(readFileSync(path.join(dir, f), 'utf8')));
        // Expired states drop out here, so their end is reported like a lift.
        if (r.success && Date.parse(r.data.until) > now) next.set(r.data.agent, r.data);
      } catch {
        // a file being replaced; the next poll sees it
      }
    }
    for (const a of new Set([...states.keys(), ...next.keys()])) {
      if (JSON.stringify(states.get(a)) !== JSON.stringify(next.get(a))) onChange?.(a, next.get(a));
    }
    states = next;
  };
  refresh();
  const timer = setInterval(refresh, pollMs);
  timer.unref();
  const active = (s: ContainmentState | undefined, now: number): ContainmentState | undefined => (s && Date.parse(s.until) > now ? s : undefined);
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
    list: (now) => [...states.values()].filter((s) => active(s, now) !== undefined).sort((a, b) => (a.agent < b.agent ? -1 : 1)),
    refresh,
    close: () => clearInterval(timer),
  };
}

/** Recent patients per agent: the "active context window" that `pause` keeps serving. */
export function createPatientContext(windowMs: number): { see(agent: string, patients: readonly string[], now: number): void; recent(agent: string, now: number): string[] } {
  const seen = new Map<string, Map<string, number>>();
  return {
    see(agent, patients, now) {
      if (patients.length === 0) return;
      let m = seen.get(agent);
      if (!m) {
        m = new Map();
        seen.set(agent, m);
      }
      for (const p of patients) m.set(p, now);
      if (m.size > 10_000) for (const [p, t] of m) if (now - t > windowMs) m.delete(p);
    },
    recent(agent, now) {
      return [...(seen.get(agent) ?? new Map<string, number>())].filter(([, t]) => now - t <= windowMs).map(([p]) => p);
    },
  };
}
