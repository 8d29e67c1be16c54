/**
 * The containment lane: an agent in a containment state (containment/) is held to it before its policy rules run.
 * - `stop`: every request is denied;
 * - `soft-quarantine`: outside egress is denied, in-cluster traffic goes on (a live encounter can finish);
 * - `pause`: only patients already in the agent's context window when containment began are served;
 * - `alert`: nothing is held back here (the entry was recorded).
 */
import type { ContainmentState } from '../containment/index.js';
import { DECISION_REASONS, denyDecision, type Decision } from '../model/index.js';
import type { AgentLaneContext, Gate } from './lane.js';

function held(ctx: AgentLaneContext, c: ContainmentState): string | undefined {
  switch (c.action) {
    case 'stop':
      return 'all requests are denied';
    case 'soft-quarantine':
      return ctx.egress.kind !== 'internal' ? 'outside egress is denied' : undefined;
    case 'pause': {
      // Keyed digests (containment/containment.ts): without the key the state was keyed with, no patient is known.
      const cm = ctx.snapshot.containment;
      const known = (p: string): boolean => cm?.inContext?.(c, p) === true;
      return ctx.attributes.fhir.patients.every(known)
        ? undefined
        : 'only patients already in the active context are served';
    }
    case 'alert':
      return undefined;
  }
}

export const containmentLane: Gate = (ctx): Decision | undefined => {
  const c = ctx.snapshot.containment?.get(ctx.agent.name, ctx.attributes.now.getTime());
  if (c === undefined) return undefined;
  const why = held(ctx, c);
  if (why === undefined) return undefined;
  return denyDecision({
    agent: ctx.agent.name,
    rule: `containment:${c.action}`,
    reason: DECISION_REASONS.contained,
    status: 403,
    message: `Denied: agent contained (${c.action}, ${c.trigger}) until ${c.until}: ${why}`,
    policyVersion: ctx.snapshot.policies.version,
  });
};
