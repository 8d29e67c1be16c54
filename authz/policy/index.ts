export { AgentPolicySchema, RuleSchema, SelectorSchema, ScopeEntrySchema, TIERS, MODES, type AgentPolicy, type PolicyRule, type Selector, type BreakGlassClass, BreakGlassClassSchema } from './schema.js';
export { loadPolicyDir, parsePolicyText, listPolicyFiles, type LoadResult } from './load-policies.js';
export { compilePolicies, hashContent, type CompiledLane, type CompiledAgent, type CompiledPolicySet, type CompiledRule, type LoadedDocument } from './compile-policy.js';
export { compileExpression, type CompileResult, type CelProgram } from './compile-expression.js';
export { type Finding, formatFinding } from './finding.js';
export { createPolicyStore, type PolicyStore, type PolicyStoreEvents } from './policy-store.js';
