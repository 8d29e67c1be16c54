/**
 * The patients each agent touched recently: the "active context window" that the `pause` containment action keeps
 * serving. It lives in the replica's memory only; when containment begins, the window's patients are written to
 * the containment state as hashes (containment.ts).
 */

/** The longest window a policy may set (`spec.containment.contextMinutes` ≤ 24 h); older entries are dropped. */
const MAX_WINDOW_MS = 24 * 60 * 60_000;
/** Entries per agent before old ones are swept. */
const SWEEP_AT = 10_000;

export interface PatientContext {
  /** Records that the agent was allowed access to these patients at `nowMs`. */
  see(agent: string, patients: readonly string[], nowMs: number): void;
  /** The patients the agent touched within the last `windowMs`. */
  recent(agent: string, nowMs: number, windowMs: number): string[];
}

export function createPatientContext(): PatientContext {
  const seen = new Map<string, Map<string, number>>();
  return {
    see(agent, patients, nowMs) {
      if (patients.length === 0) return;
      let m = seen.get(agent);
      if (m === undefined) {
        m = new Map();
        seen.set(agent, m);
      }
      for (const p of patients) m.set(p, nowMs);
      if (m.size > SWEEP_AT) for (const [p, t] of m) if (nowMs - t > MAX_WINDOW_MS) m.delete(p);
    },
    recent(agent, nowMs, windowMs) {
      const out: string[] = [];
      for (const [p, t] of seen.get(agent) ?? []) if (nowMs - t <= windowMs) out.push(p);
      return out;
    },
  };
}
