/**
 * Matches a caller's SPIFFE identity to an agent policy. The most specific selector wins
 * (principal > namespace+serviceAccount > namespace); a tie at the top is ambiguous and denied.
 */
import type { SpiffeIdentity } from '../identity/index.js';
import type { CompiledAgent, CompiledPolicySet } from '../policy/index.js';

export type AgentMatch = { kind: 'match'; agent: CompiledAgent } | { kind: 'none' } | { kind: 'ambiguous'; agents: string[] };

export function selectAgent(set: CompiledPolicySet, id: SpiffeIdentity | undefined): AgentMatch {
  if (!id) return { kind: 'none' };
  let best: CompiledAgent[] = [];
  for (const a of set.agents) {
    const s = a.selector;
    if (s.principal !== undefined && s.principal !== id.principal) continue;
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
