/**
 * What a decision causes, as data. Planning is pure (it reads the decision and the context it was decided in);
 * apply-effects.ts carries the plan out after the decision, before the answer goes back.
 */
import { triggerOf, type ContainmentAction, type ContainmentTrigger } from '../containment/index.js';
import type { EgressDecisionInfo } from '../egress/index.js';
import type { Authorization, RateLimit } from '../lanes/index.js';
import { DECISION_REASONS, type Decision } from '../model/index.js';

export interface ContainmentEntry {
  agent: string;
  action: ContainmentAction;
  trigger: ContainmentTrigger;
  durationMinutes: number;
  /** `pause`: how far back the agent's patient context reaches (`spec.containment.contextMinutes`). */
  contextWindowMs: number;
}

export interface Effects {
  /** An allowed outside request under a rate limit takes a token. */
  rateLimitDebit: { agent: string; limit: RateLimit; nowMs: number } | undefined;
  /** An allowed request adds its patients to the agent's context window (for `pause`). */
  contextSeen: { agent: string; patients: readonly string[]; nowMs: number } | undefined;
  /** An outside endpoint was contacted: the AI bill of materials records the first contact per replica. */
  egressContact: { agent: string; principal: string; info: EgressDecisionInfo } | undefined;
  /** A deny that triggers the agent's containment. */
  containment: ContainmentEntry | undefined;
  /** An access allowed through a break-glass class is attested. */
  breakGlass: boolean;
}

function containmentEntry(auth: Authorization, d: Decision): ContainmentEntry | undefined {
  const { context } = auth;
  if (d.outcome !== 'deny' || d.agent === '' || d.reason === DECISION_REASONS.contained) return undefined;
  if (context.match.kind !== 'match' || context.snapshot.containment === undefined) return undefined;
  const agent = context.match.agent;
  const cfg = agent.policy.spec.containment;
  const trigger = triggerOf(d.reason);
  if (agent.mode !== 'enforce' || trigger === undefined || !cfg.triggers.includes(trigger)) return undefined;
  if (context.snapshot.containment.get(agent.name, auth.attributes.now.getTime()) !== undefined) return undefined;
  return {
    agent: agent.name,
    action: cfg.action ?? (agent.tier === 'batch' ? 'stop' : 'soft-quarantine'),
    trigger,
    durationMinutes: cfg.durationMinutes,
    contextWindowMs: cfg.contextMinutes * 60_000,
  };
}

/** The effects of one decision. `auth` is undefined when the Check failed before it was decided. */
/** What a Check that failed before it was decided causes: its audit record only. */
const NO_EFFECTS: Effects = Object.freeze({
  rateLimitDebit: undefined,
  contextSeen: undefined,
  egressContact: undefined,
  containment: undefined,
  breakGlass: false,
});

export function planEffects(auth: Authorization | undefined, d: Decision): Effects {
  if (auth === undefined) return NO_EFFECTS;
  const { context, attributes } = auth;
  const agent = context.match.kind === 'match' ? context.match.agent : undefined;
  const nowMs = attributes.now.getTime();
  const allowed = d.outcome === 'allow' && agent !== undefined;
  const limit = agent?.policy.spec.egressRateLimit;
  return {
    rateLimitDebit:
      allowed && context.egress.kind === 'outside' && limit !== undefined
        ? { agent: agent.name, limit, nowMs }
        : undefined,
    contextSeen: allowed ? { agent: agent.name, patients: attributes.fhir.patients, nowMs } : undefined,
    egressContact:
      d.egress !== undefined && d.agent !== ''
        ? { agent: d.agent, principal: attributes.source.principal, info: d.egress }
        : undefined,
    containment: containmentEntry(auth, d),
    breakGlass: d.lane !== undefined && d.outcome === 'allow' && d.reason === DECISION_REASONS.breakGlass,
  };
}
