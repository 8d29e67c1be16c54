/**
 * The egress rate-limit lane: an allowed outside request beyond the agent policy's `egressRateLimit` is denied
 * with 429. Buckets are per replica (the fleet-wide ceiling is replicas × the limit). The lane reads the bucket;
 * taking the token is an effect of the allow (effects/), and a token that is gone by then (another Check of the
 * same turn took it) turns the allow into this same deny there.
 */
import { DECISION_REASONS, denyDecision, type Decision } from '../model/index.js';
import type { Condition, RateLimit } from './lane.js';

/** The 429 deny of an agent over its egress rate limit, keeping the egress coverage of the decision it replaces. */
export function rateLimitedDecision(agent: string, limit: RateLimit, replaced: Decision): Decision {
  const d = denyDecision({
    agent,
    rule: 'egress-rate-limit',
    reason: DECISION_REASONS.rateLimited,
    status: 429,
    message: `Denied: egress rate limit of ${limit.requests} requests per ${limit.perSeconds}s exceeded`,
    policyVersion: replaced.policyVersion,
  });
  if (replaced.egress !== undefined) d.egress = replaced.egress;
  return d;
}

export const rateLimitLane: Condition = (ctx, decided) => {
  const limit = ctx.agent.policy.spec.egressRateLimit;
  const buckets = ctx.snapshot.rateLimits;
  if (ctx.egress.kind !== 'outside' || decided.outcome !== 'allow' || limit === undefined || buckets === undefined) {
    return undefined;
  }
  if (buckets.available(ctx.agent.name, limit, ctx.attributes.now.getTime())) return undefined;
  return rateLimitedDecision(ctx.agent.name, limit, decided);
};
