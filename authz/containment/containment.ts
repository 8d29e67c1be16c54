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
 * rename, read by every replica (containment-store.ts). Staleness bound: the poll interval (default 1 s) plus the
 * write. The
 * patient context of `pause` is stored as salted SHA-256 hashes, never ids. States expire at `until`, or are lifted
 * explicitly (`phiguard contain lift`, which deletes the file).
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { DECISION_REASONS, type DecisionReason } from '../model/index.js';

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

export const hashPatient = (salt: string, id: string): string =>
  createHash('sha256').update(`${salt}\u0000${id}`).digest('hex').slice(0, 32);
