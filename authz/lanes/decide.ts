/**
 * The decision: one Check's attribute model and a snapshot in, a Decision out, through the lanes in this order.
 *
 *  1. select agent     the caller's SPIFFE identity names exactly one agent policy     (select-agent.ts)
 *  2. identity         a presented bearer token that fails verification is denied     (identity.ts)
 *  3. containment      a contained agent is held to its containment action            (containment.ts)
 *  4. protected        metadata endpoints and the API server are never reachable      (protected-endpoint.ts)
 *  5. policy rules     the agent's CEL deny and allow rules; invalid requests;        (policy-rules.ts,
 *                      break-glass classes on a standard deny                          break-glass.ts)
 *  6. exception        a protected endpoint reached through a policy exception is marked
 *  7. BAA egress       outside hosts need an active BAA at the moment of contact       (baa-egress.ts)
 *  8. rate limit       outside egress beyond the agent's limit is denied (429)        (rate-limit.ts)
 *  9. credentials      an allowed, covered outside request gets its credential         (credentials.ts)
 *
 * Lanes 2-4 end the decision when they deny; 6-9 see the decision so far and may replace it. Whichever lane
 * decides, a request to an outside host carries its BAA coverage at the moment of contact (`egress`): every outside
 * attempt without active coverage is a BAA event for the audit trail, even one a gate denied first. Everything here
 * is pure over the snapshot and never throws for any request (a throw from a bug is caught by the Check pipeline,
 * which denies).
 */
import { baaEgressLane } from './baa-egress.js';
import { containmentLane } from './containment.js';
import { credentialsLane } from './credentials.js';
import { identityLane } from './identity.js';
import type { AgentLaneContext, Condition, Gate, LaneContext } from './lane.js';
import { policyRulesLane } from './policy-rules.js';
import { protectedEndpointLane, protectedExceptionLane } from './protected-endpoint.js';
import { rateLimitLane } from './rate-limit.js';
import { selectAgentLane } from './select-agent.js';
import { coverageInfo } from '../egress/index.js';
import type { Decision } from '../model/index.js';

/** Lanes before the policy rules, in order: the first decision ends the evaluation. */
export const GATES: readonly Gate[] = [identityLane, containmentLane, protectedEndpointLane];

/** Lanes after the policy rules, in order, each on the decision so far. */
export const CONDITIONS: readonly Condition[] = [protectedExceptionLane, baaEgressLane, rateLimitLane, credentialsLane];

/** The decision with the BAA coverage of its outside host, when it is one and no lane recorded it. */
function withEgressCoverage(ctx: LaneContext, d: Decision): Decision {
  const eg = ctx.egress;
  if (eg.kind === 'outside' && d.egress === undefined)
    d.egress = coverageInfo(ctx.snapshot.baa, eg.host, eg.port, ctx.attributes.now);
  return d;
}

/** Decides one Check. */
export function decide(ctx: LaneContext): Decision {
  return withEgressCoverage(ctx, decideByLanes(ctx));
}

function decideByLanes(ctx: LaneContext): Decision {
  if (ctx.match.kind !== 'match') return selectAgentLane(ctx.match, ctx.snapshot.policies.version);
  const actx: AgentLaneContext = {
    attributes: ctx.attributes,
    claims: ctx.claims,
    match: ctx.match,
    egress: ctx.egress,
    snapshot: ctx.snapshot,
    fullTrace: ctx.fullTrace,
    agent: ctx.match.agent,
  };
  for (const gate of GATES) {
    const d = gate(actx);
    if (d !== undefined) return d;
  }
  let d = policyRulesLane(actx);
  for (const condition of CONDITIONS) d = condition(actx, d) ?? d;
  return d;
}
