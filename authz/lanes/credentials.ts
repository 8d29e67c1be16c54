/**
 * The credentials lane: an allowed request to a BAA-covered endpoint gets that endpoint's credential injected
 * upstream (ext_authz `OkHttpResponse.headers`), and any credential the agent sent is removed
 * (`headers_to_remove`), so agents hold no provider keys. The credential is never logged or audited.
 */
import type { Condition } from './lane.js';

export const credentialsLane: Condition = (ctx, decided) => {
  const eg = ctx.egress;
  if (eg.kind !== 'outside' || decided.outcome !== 'allow' || decided.egress?.covered !== true) return undefined;
  const injection = ctx.snapshot.credentials?.forHost(eg.host);
  if (injection !== undefined) decided.inject = injection;
  return undefined;
};
