export {
  AgentPolicySchema,
  RuleSchema,
  SelectorSchema,
  ScopeEntrySchema,
  BreakGlassClassSchema,
  TIERS,
  MODES,
  type AgentPolicy,
  type PolicyRule,
  type Selector,
  type BreakGlassClass,
} from './schema.js';
export {
  readPolicyDir,
  parsePolicyText,
  listPolicyFiles,
  POLICY_TEST_FILE,
  type LoadedPolicySet,
} from './load-policies.js';
export { POLICY_FINDING_CODES, type PolicyFindingCode } from './policy-findings.js';
export {
  compilePolicies,
  hashContent,
  type CompiledLane,
  type CompiledAgent,
  type CompiledPolicySet,
  type CompiledRule,
  type LoadedDocument,
} from './compile-policy.js';
export { compileExpression, type CompiledExpression, type CelProgram } from './compile-expression.js';
export { CelKeyError } from './cel-fast-path.js';
/** Re-exported for callers that still import them from here (authz/index.ts); they live in model/. */
export { type Finding, formatFinding } from '../model/index.js';
export { createPolicyStore, type PolicyStore, type PolicyStoreEvents } from './policy-store.js';
