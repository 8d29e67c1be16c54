/**
 * Matches a caller's SPIFFE identity to an agent policy. The most specific selector wins
 * (principal > namespace+serviceAccount > namespace); a tie at the top is ambiguous and denied.
 *
 * The trust domain is pinned: a selector without `trustDomain` (and without a full `principal`, which names its own)
 * matches only identities of the mesh's trust domain (`--trust-domain`, default `cluster.local`). Namespace and
 * service-account names are only unique within a trust domain (SPIFFE ID spec §2.1, Istio's
 * `spiffe://<trust-domain>/ns/<ns>/sa/<sa>`), so `spiffe://evil.example/ns/cds/sa/x` is not the cds agent.
 */
import type { SpiffeIdentity } from '../identity/index.js';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision, type Decision } from '../model/index.js';
import type { CompiledAgent, CompiledPolicySet } from '../policy/index.js';

export type AgentMatch =
  { kind: 'match'; agent: CompiledAgent } | { kind: 'none' } | { kind: 'ambiguous'; agents: string[] };

export function selectAgent(set: CompiledPolicySet, id: SpiffeIdentity | undefined, trustDomain: string): AgentMatch {
  if (!id) return { kind: 'none' };
  let best: CompiledAgent[] = [];
  for (const a of set.agents) {
    const s = a.selector;
    if (s.principal !== undefined && s.principal !== id.principal) continue;
    if (s.principal === undefined && (s.trustDomain ?? trustDomain) !== id.trustDomain) continue;
    if (s.trustDomain !== undefined && s.trustDomain !== id.trustDomain) continue;
    if (s.namespace !== undefined && s.namespace !== id.namespace) continue;
    if (s.serviceAccount !== undefined && s.serviceAccount !== id.serviceAccount) continue;
    const top = best[0];
    if (!top || a.specificity > top.specificity) best = [a];
    else if (a.specificity === top.specificity) best.push(a);
  }
  const [first, ...rest] = best;
  if (!first) return { kind: 'none' };
  if (rest.length > 0) return { kind: 'ambiguous', agents: best.map((a) => a.name) };
  return { kind: 'match', agent: first };
}

/** The agent-selection lane: a caller that is no agent, or more than one, is denied before anything else runs. */
export function selectAgentLane(match: Exclude<AgentMatch, { kind: 'match' }>, policyVersion: string): Decision {
  return match.kind === 'none'
    ? denyDecision({
        rule: BUILTIN_RULES.unknownPrincipal,
        reason: DECISION_REASONS.unknownAgent,
        message: 'Denied: caller is not a known agent',
        policyVersion,
      })
    : denyDecision({
        rule: BUILTIN_RULES.ambiguousPrincipal,
        reason: DECISION_REASONS.ambiguousAgent,
        message: 'Denied: caller matches more than one agent policy',
        policyVersion,
      });
}
