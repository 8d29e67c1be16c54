/**
 * The authorizer: a CheckInput in, its attribute model and Decision out. It resolves the caller's identity and
 * verified claims, parses the FHIR request, selects the agent policy, and decides (decide.ts) over a snapshot.
 * The Check pipeline (service/) and `phiguard explain` both use it, so what explain prints is what the service does.
 */
import { classifyEgress, DEFAULT_INTERNAL_SUFFIXES } from '../egress/index.js';
import { createFhirRequestParser } from '../fhir/index.js';
import { parseSpiffeId, type ClaimsResolver, type ClaimsResult } from '../identity/index.js';
import type { RequestAttributesModel } from '../model/index.js';
import { requestTimeMs, type CheckInput } from '../model/index.js';
import type { Decision } from '../model/index.js';
import type { CompiledPolicySet } from '../policy/index.js';
import { buildAttributes } from './build-attributes.js';
import { decide } from './decide.js';
import type { LaneContext, Snapshot } from './lane.js';
import { selectAgent } from './select-agent.js';

export interface AuthorizerOptions {
  claims: ClaimsResolver;
  fhirBasePaths: readonly string[];
  /** The snapshot in force, read once per Check. */
  snapshot: () => Snapshot;
  /** Clock for requests without Envoy's request time (tests). */
  now?: () => number;
}

/** One decided Check: what policy saw, the decision, and the context it was decided in (for the effects). */
export interface Authorization {
  decision: Decision;
  attributes: RequestAttributesModel;
  context: LaneContext;
}

export interface Authorizer {
  /**
   * Decides one request. Returns synchronously unless a bearer token must be verified for the first time; the
   * Promise never rejects for a request (claims resolution never rejects).
   */
  authorize(input: CheckInput, options?: { fullTrace?: boolean }): Authorization | Promise<Authorization>;
}

/** A snapshot of a policy set alone: no BAA registry, credentials, containment or rate limits (offline tools). */
/** The mesh trust domain when none is configured: Istio's and Kubernetes' default. */
export const DEFAULT_TRUST_DOMAIN = 'cluster.local';

export function policyOnlySnapshot(policies: CompiledPolicySet): Snapshot {
  return {
    policies,
    baa: undefined,
    credentials: undefined,
    containment: undefined,
    rateLimits: undefined,
    egress: { internalSuffixes: DEFAULT_INTERNAL_SUFFIXES },
    trustDomain: DEFAULT_TRUST_DOMAIN,
  };
}

export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const parseFhir = createFhirRequestParser({ basePaths: options.fhirBasePaths });
  const clock = options.now ?? Date.now;

  function context(input: CheckInput, claims: ClaimsResult, fullTrace: boolean): LaneContext {
    const snapshot = options.snapshot();
    const http = input.attributes.request?.http ?? {};
    const headers = http.headers ?? {};
    const identity = parseSpiffeId(input.attributes.source?.principal ?? '');
    const fhir = parseFhir({
      method: http.method ?? '',
      path: http.path ?? '',
      headers,
      body: http.body,
      bodyTruncated: headers['x-envoy-auth-partial-body'] === 'true',
    });
    const match = selectAgent(snapshot.policies, identity, snapshot.trustDomain);
    const verified = claims.kind === 'verified' ? claims.claims : {};
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const attributes = buildAttributes({
      input,
      identity,
      fhir,
      agent:
        match.kind === 'match'
          ? { name: match.agent.name, tier: match.agent.tier, mode: match.agent.mode }
          : { name: '', tier: '', mode: '' },
      claims: verified,
      auth: {
        source: claims.kind === 'verified' ? claims.source : 'none',
        subject: str(verified['sub']),
        issuer: str(verified['iss']),
      },
      now: new Date(requestTimeMs(input) ?? clock()),
    });
    const egress = classifyEgress(attributes, snapshot.egress);
    return { attributes, claims, match, egress, snapshot, fullTrace };
  }

  const complete = (input: CheckInput, claims: ClaimsResult, fullTrace: boolean): Authorization => {
    const ctx = context(input, claims, fullTrace);
    return { decision: decide(ctx), attributes: ctx.attributes, context: ctx };
  };

  return {
    authorize(input, opts = {}) {
      const headers = input.attributes.request?.http?.headers ?? {};
      const claims = options.claims.resolve({
        filterMetadata: input.attributes.metadata_context?.filter_metadata ?? {},
        authorization: headers['authorization'],
      });
      const full = opts.fullTrace === true;
      return claims instanceof Promise ? claims.then((c) => complete(input, c, full)) : complete(input, claims, full);
    },
  };
}
