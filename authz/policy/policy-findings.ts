/** The finding codes of policy loading and compilation (besides the YAML reader's own: yaml, schema, unreadable). */
import type { ConfigFindingCode } from '../config/index.js';

export const POLICY_FINDING_CODES = {
  /** No policy files, or no AgentPolicy documents in them: an allow-nothing set must not look healthy. */
  empty: 'empty',
  duplicateAgent: 'duplicate-agent',
  duplicateSelector: 'duplicate-selector',
  duplicateRule: 'duplicate-rule',
  duplicateBreakGlassClass: 'duplicate-break-glass-class',
  /** A CEL expression does not parse, type-check to bool, or use a valid RE2 literal. */
  celCompileError: 'cel-compile-error',
  allowInvalidOnDeny: 'allow-invalid-on-deny',
  allowUnresolvedOnDeny: 'allow-unresolved-on-deny',
  /** A warning: an `allowUnresolved` opt-in that lets a request reach patients nobody named. */
  broadUnresolvedOptIn: 'broad-unresolved-opt-in',
} as const;

/** Every code a policy load can report. */
export type PolicyFindingCode = (typeof POLICY_FINDING_CODES)[keyof typeof POLICY_FINDING_CODES] | ConfigFindingCode;
