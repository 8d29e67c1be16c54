/**
 * The shape of a lane: one step of the decision, pure over the request's attribute model and a snapshot of
 * everything else it reads (policy set, BAA registry, credentials, containment state, rate-limit buckets, clock).
 * Lanes do no I/O and change nothing; what a decision causes is returned as effects (effects/) and applied after.
 */
import type { BaaRegistry, CredentialStore, EgressClass, EgressOptions } from '../egress/index.js';
import type { ContainmentState } from '../containment/index.js';
import type { ClaimsResult } from '../identity/index.js';
import type { RequestAttributesModel } from '../model/index.js';
import type { Decision } from '../model/index.js';
import type { CompiledAgent, CompiledPolicySet } from '../policy/index.js';
import type { AgentMatch } from './select-agent.js';

/** Read views of the state the decision depends on, refreshed off the Check path. */
export interface Snapshot {
  /** The compiled policy set in force. */
  policies: CompiledPolicySet;
  /** The BAA registry in force; undefined: outside egress is denied. */
  baa: BaaRegistry | undefined;
  /** Egress credentials to inject (secrets already read). */
  credentials: CredentialStore | undefined;
  /** Containment states shared by the replicas; undefined when containment is off. */
  containment:
    | {
        get(agent: string, nowMs: number): ContainmentState | undefined;
        /** Whether a patient is in a `pause` state's context; without it no context is known (pause serves none). */
        inContext?(state: ContainmentState, patient: string): boolean;
      }
    | undefined;
  /** Per-agent egress token buckets (read here; the debit is an effect). */
  rateLimits: { available(agent: string, limit: RateLimit, nowMs: number): boolean } | undefined;
  /** What counts as in-cluster, and the API server's addresses. */
  egress: EgressOptions;
  /** The mesh's SPIFFE trust domain: selectors without their own match only identities of this one. */
  trustDomain: string;
}

/** An agent policy's egress rate limit. */
export interface RateLimit {
  requests: number;
  perSeconds: number;
}

/** Everything a lane may read about one Check. Built once per Check (decide.ts). */
export interface LaneContext {
  attributes: RequestAttributesModel;
  claims: ClaimsResult;
  match: AgentMatch;
  /** Where the request goes: in-cluster, a protected endpoint, or an outside host. */
  egress: EgressClass;
  snapshot: Snapshot;
  /** Evaluate every rule for the trace (`phiguard explain`) instead of stopping at the deciding one. */
  fullTrace: boolean;
}

/** The context once the caller is known to be one agent. */
export interface AgentLaneContext extends LaneContext {
  agent: CompiledAgent;
}

/** A lane that runs before the policy rules: a decision it returns ends the evaluation. */
export type Gate = (ctx: AgentLaneContext) => Decision | undefined;

/**
 * A lane that runs after the policy rules on the decision so far: it returns the decision that replaces it, or
 * undefined to keep it.
 */
export type Condition = (ctx: AgentLaneContext, decided: Decision) => Decision | undefined;
