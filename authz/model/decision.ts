/**
 * The decision value. A deny is a value, not an exception.
 */

/** Why a decision came out the way it did. Closed set; stable strings (they appear in audit records and metrics). */
export const DECISION_REASONS = {
  ruleAllow: 'rule-allow',
  ruleDeny: 'rule-deny',
  noRuleMatched: 'no-rule-matched',
  invalidRequest: 'invalid-request',
  unknownAgent: 'unknown-agent',
  ambiguousAgent: 'ambiguous-agent',
  invalidToken: 'invalid-token',
  /**
   * A bearer token could not be verified because the issuer's signing keys are unavailable (the JWKS URL has not
   * answered with a usable key set): not a verdict on the token (503, retryable).
   */
  keysUnavailable: 'keys-unavailable',
  ruleError: 'rule-error',
  internalError: 'internal-error',
  auditUnavailable: 'audit-unavailable',
  noPolicy: 'no-policy',
  breakGlass: 'break-glass',
  protectedEndpoint: 'protected-endpoint',
  baaNotCovered: 'baa-not-covered',
  rateLimited: 'rate-limited',
  contained: 'contained',
  breakGlassExpired: 'break-glass-expired',
  unresolvedPatientScope: 'unresolved-patient-scope',
} as const;
export type DecisionReason = (typeof DECISION_REASONS)[keyof typeof DECISION_REASONS];

/** Built-in rule names used when no policy rule decided. */
export const BUILTIN_RULES = {
  defaultDeny: 'default-deny',
  unknownPrincipal: 'default-deny-unknown-principal',
  ambiguousPrincipal: 'default-deny-ambiguous-principal',
  invalidToken: 'invalid-token',
  keysUnavailable: 'keys-unavailable',
  internalError: 'internal-error',
  auditUnavailable: 'audit-unavailable',
  noPolicy: 'no-policy-loaded',
  /** An allow whose patient scope is unresolved for a reason the deciding rule did not opt in to. */
  unresolvedPatientScope: 'unresolved-patient-scope',
} as const;

export interface RuleTrace {
  rule: string;
  effect: 'allow' | 'deny';
  /** true / false, or `error` when evaluation failed (an errored deny denies; an errored allow does not allow). */
  result: boolean | 'error';
  /** Engine message on error (policy text only, never request values). */
  error?: string;
  /** Skipped because the request is invalid and the rule does not set allowInvalid. */
  skipped?: 'invalid-request';
  /** The built-in `unresolved-patient-scope` rule: the reasons the matched rule did not opt in to. */
  unresolved?: readonly string[];
}

export interface Decision {
  /** What is enforced. In audit mode a policy deny is enforced as allow. */
  outcome: 'allow' | 'deny';
  /** What the policy said. */
  verdict: 'allow' | 'deny';
  /** `audit` when a would-be deny was let through. */
  mode: 'enforce' | 'audit' | 'none';
  agent: string;
  rule: string;
  reason: DecisionReason;
  /** HTTP status for a deny (403 default, 400 for invalid requests, or the rule's). */
  status: number;
  /** Safe text for the agent. Never PHI. */
  message: string;
  policyVersion: string;
  trace: RuleTrace[];
  /** Set when a break-glass lane decided (allowed, or denied because its window had passed). */
  lane?: LaneUse;
  /** Set for requests to an outside host: BAA coverage at the moment of contact and the registry version. */
  egress?: EgressDecisionInfo;
  /** Set when a hard deny was lifted by an explicit policy exception (e.g. `eks-pod-identity`). */
  exception?: string;
  /** Unresolved patient-scope reasons the deciding rule's `allowUnresolved` accepted (an allow despite them). */
  unresolvedAllowed?: readonly string[];
  /**
   * Break-glass classes the verified token tried and that did not open, as `class:why` (see `LANE_ATTEMPT_FAILURES`);
   * set only on a deny.
   */
  laneAttempts?: readonly string[];
  /** Credential injection for the upstream request. Never logged, never audited. */
  inject?: Injection;
  /**
   * Set for a decision the proxy-wasm filter made in Envoy, recorded from the proxy's access log
   * (service/proxy-audit.ts): who reported it, a SPIFFE id (`--proxy-audit xfcc`) or `network`.
   */
  proxy?: { reporter: string };
}

/** A break-glass lane use: what the attestation record says. */
export interface LaneUse {
  class: string;
  purposeOfUse: 'BTG' | 'ETREAT';
  activatedAt: string;
  expiresAt: string;
  /** The standard decision the lane overrode (rule and reason). */
  overrode: { rule: string; reason: DecisionReason };
}

/**
 * A deny decided outside agent policy (unknown caller, invalid token, internal error). Built as a literal (see
 * decide.ts).
 */
export function denyDecision(
  fields: Pick<Decision, 'rule' | 'reason' | 'message'> & Partial<Pick<Decision, 'agent' | 'status' | 'policyVersion'>>,
): Decision {
  return {
    outcome: 'deny',
    verdict: 'deny',
    mode: 'none',
    agent: fields.agent ?? '',
    rule: fields.rule,
    reason: fields.reason,
    status: fields.status ?? 403,
    message: fields.message,
    policyVersion: fields.policyVersion ?? '',
    trace: [],
  };
}

/**
 * The decision as audited and counted: `deny`, `audit-deny` (a policy deny let through in audit mode) or `allow`.
 * Never throws.
 */
export function decisionLabel(d: Pick<Decision, 'outcome' | 'mode'>): 'allow' | 'deny' | 'audit-deny' {
  if (d.outcome === 'deny') return 'deny';
  return d.mode === 'audit' ? 'audit-deny' : 'allow';
}

/** An outside request's BAA coverage at the moment of contact, as the decision and its audit record carry it. */
export interface EgressDecisionInfo {
  host: string;
  port: number;
  covered: boolean;
  /**
   * `active-agreement`, or why not: the registry's coverage reasons (`no-agreement`, `expired`, ...) or
   * `no-baa-registry`.
   */
  reason: string;
  vendor: string;
  agreementId: string;
  registryVersion: string;
}

/** Credential injection for the upstream request (ext_authz OkHttpResponse headers). Never logged or audited. */
export interface Injection {
  set: Array<{ key: string; value: string }>;
  remove: string[];
}
