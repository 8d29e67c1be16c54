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
 * Shared state: one JSON file per agent in a directory on a shared mount (ReadWriteMany volume), written 0600 by
 * atomic rename, read by every replica (containment-store.ts). Staleness bound: the poll interval (default 1 s) plus
 * the write. Only `pause` uses a patient context: its patients are stored as HMAC-SHA256 digests under the privacy
 * key (privacy/privacy-key.ts) and a per-state salt, so the file cannot be tested against candidate ids without the
 * key, and two states do not show that they share a patient. Without a privacy key `pause` cannot keep a context,
 * and the agent is stopped instead (`requestedAction: pause`). The other actions store no context. States expire at
 * `until`, or are lifted (`phiguard contain lift`, which rewrites the file as lifted, by whom and why, without its
 * context); see docs/privacy.md.
 */
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { DECISION_REASONS, type DecisionReason } from '../model/index.js';
import { KEY_PURPOSES, type PrivacyKey } from '../privacy/index.js';

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
    /**
     * `pause`: HMAC-SHA256 digests (under the privacy key, with `salt`) of the patients in the agent's context window
     * when containment began. Empty for every other action.
     */
    contextPatients: z.array(z.string()).default([]),
    salt: z.string().default(''),
    /** The id of the privacy key the context is keyed with (PrivacyKey.id; not the key). */
    keyId: z.string().default(''),
    /** The policy's action, when the one in force differs (`pause` without a privacy key is `stop`). */
    requestedAction: z.enum(CONTAINMENT_ACTIONS).optional(),
    /** Set by `phiguard contain lift`: the state is over. */
    lifted: z
      .object({ at: z.iso.datetime(), by: z.string().min(1), reason: z.string().min(1) })
      .strict()
      .optional(),
  })
  .strict();
export type ContainmentState = z.infer<typeof ContainmentStateSchema>;

/** Which deny reasons are which trigger; every other reason triggers nothing. */
const TRIGGER_OF: Partial<Record<DecisionReason, ContainmentTrigger>> = {
  [DECISION_REASONS.baaNotCovered]: 'baa-violation',
  [DECISION_REASONS.protectedEndpoint]: 'protected-endpoint',
  [DECISION_REASONS.rateLimited]: 'rate-limit',
  [DECISION_REASONS.ruleDeny]: 'outside-envelope',
  [DECISION_REASONS.noRuleMatched]: 'outside-envelope',
};

/** The containment trigger a deny reason is, if any. */
export function triggerOf(reason: DecisionReason): ContainmentTrigger | undefined {
  return TRIGGER_OF[reason];
}

/** What a containment entry is, before its patient context is attached. */
export type ContainmentEntryState = Pick<
  ContainmentState,
  'agent' | 'action' | 'trigger' | 'since' | 'until' | 'decisionId' | 'replica'
>;

/** A patient id's digest in a `pause` context: HMAC-SHA256 under the context subkey, over the salt and the id. */
export const contextDigest = (key: PrivacyKey, salt: string, id: string): string =>
  key.digest(KEY_PURPOSES.containmentContext, `${salt}\u0000${id}`).toString('hex').slice(0, 32);

/**
 * The state to enter: `pause` with the context's patients keyed (read from `context` only then), or `stop` in its
 * place when there is no privacy key; any other action with no context.
 */
export function containmentStateOf(
  entry: ContainmentEntryState,
  context: () => readonly string[],
  key: PrivacyKey | undefined,
): ContainmentState {
  const base = { ...entry, contextPatients: [], salt: '', keyId: '' };
  if (entry.action !== 'pause') return base;
  if (key === undefined) return { ...base, action: 'stop', requestedAction: 'pause' };
  const salt = randomBytes(16).toString('hex');
  return {
    ...base,
    contextPatients: [...new Set(context())].map((p) => contextDigest(key, salt, p)).sort(),
    salt,
    keyId: key.id,
  };
}

/**
 * Whether a patient is in a `pause` state's context: its digest under the key the state was made with (none under
 * another key or without one). The digests of a state are indexed once per state.
 */
export function contextMatcher(key: PrivacyKey | undefined): (state: ContainmentState, patient: string) => boolean {
  const contexts = new WeakMap<ContainmentState, ReadonlySet<string>>();
  return (state, patient) => {
    if (key === undefined || state.keyId !== key.id || state.contextPatients.length === 0) return false;
    let set = contexts.get(state);
    if (set === undefined) {
      set = new Set(state.contextPatients);
      contexts.set(state, set);
    }
    return set.has(contextDigest(key, state.salt, patient));
  };
}
