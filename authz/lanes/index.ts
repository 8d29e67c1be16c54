export {
  createAuthorizer,
  policyOnlySnapshot,
  DEFAULT_TRUST_DOMAIN,
  type Authorization,
  type Authorizer,
  type AuthorizerOptions,
  type CheckProgress,
} from './authorize.js';
export { decide, GATES, CONDITIONS } from './decide.js';
export { selectAgent, type AgentMatch } from './select-agent.js';
export type { AgentLaneContext, Condition, Gate, LaneContext, RateLimit, Snapshot } from './lane.js';
export { rateLimitedDecision } from './rate-limit.js';
