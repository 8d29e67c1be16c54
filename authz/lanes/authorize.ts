/**
 * The authorizer: a CheckInput in, its attribute model and Decision out. It resolves the caller's identity and
 * verified claims, parses the FHIR request, selects the agent policy, and decides (decide.ts) over a snapshot.
 * The Check pipeline (service/) and `phiguard explain` both use it, so what explain prints is what the service does.
 */
import { classifyEgress, DEFAULT_INTERNAL_SUFFIXES } from '../egress/index.js';
import { createFhirRequestParser, type FhirRequestParser } from '../fhir/index.js';
import { parseSpiffeId, type ClaimsResolver, type ClaimsResult, type SpiffeIdentity } from '../identity/index.js';
import type { FhirAttributes, RequestAttributesModel } from '../model/index.js';
import { emptyFhirAttributes, MAX_TIME_MS, requestTimeMs, type CheckInput } from '../model/index.js';
import type { Decision } from '../model/index.js';
import type { CompiledPolicySet } from '../policy/index.js';
import { buildAttributes } from './build-attributes.js';
import { decide } from './decide.js';
import type { LaneContext, Snapshot } from './lane.js';
import { selectAgent, type AgentMatch } from './select-agent.js';

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

/** The caller's identity and the FHIR view of the request: what the request says, before any claim or policy. */
interface RequestView {
  identity: SpiffeIdentity | undefined;
  fhir: FhirAttributes;
}

/**
 * What is known of one Check so far, filled in stage by stage as `authorize` reaches it. A Check that fails is
 * recorded from it (`Authorizer.known`), so its audit record carries everything that was known.
 */
export interface CheckProgress {
  input?: CheckInput;
  claims?: ClaimsResult;
  request?: RequestView;
  /** The agent policy that matched the caller (`''` for none). */
  agent?: string;
  attributes?: RequestAttributesModel;
}

export interface Authorizer {
  /**
   * Decides one request. Returns synchronously unless a bearer token must be verified for the first time; the
   * Promise never rejects for a request (claims resolution never rejects). `progress` is filled in as the stages are
   * reached.
   */
  authorize(
    input: CheckInput,
    options?: { fullTrace?: boolean; progress?: CheckProgress },
  ): Authorization | Promise<Authorization>;
  /**
   * The attribute model of a Check that failed, from what its progress reached: the request's own fields (caller,
   * method, path, host, FHIR view and patients) once decoded, the verified clinician once claims were resolved.
   * Undefined before the request was decoded. Never throws.
   */
  known(progress: CheckProgress): RequestAttributesModel | undefined;
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

/** The value of `f`, or undefined if it throws (for the record of a Check that failed: what can still be known). */
function attempt<T>(f: () => T): T | undefined {
  try {
    return f();
  } catch {
    return undefined;
  }
}

const NO_AGENT = { name: '', tier: '', mode: '' };

/** Envoy's request time when it is a time a Date holds (±8.64e15 ms), else the time of receipt. */
function nowOf(input: CheckInput, clock: () => number): Date {
  const t = requestTimeMs(input);
  return new Date(t !== undefined && Math.abs(t) <= MAX_TIME_MS ? t : clock());
}

function requestView(input: CheckInput, parseFhir: FhirRequestParser): RequestView {
  const http = input.attributes.request?.http ?? {};
  const headers = http.headers ?? {};
  return {
    identity: parseSpiffeId(input.attributes.source?.principal ?? ''),
    fhir: parseFhir({
      method: http.method ?? '',
      path: http.path ?? '',
      headers,
      body: http.body,
      bodyTruncated: headers['x-envoy-auth-partial-body'] === 'true',
      host: http.host ?? headers[':authority'] ?? headers['host'],
    }),
  };
}

function attributesOf(
  input: CheckInput,
  view: RequestView,
  agent: { name: string; tier: string; mode: string },
  claims: ClaimsResult | undefined,
  now: Date,
): RequestAttributesModel {
  const verified = claims?.kind === 'verified' ? claims.claims : {};
  const str = (v: unknown): string => (typeof v === 'string' ? v : '');
  return buildAttributes({
    input,
    identity: view.identity,
    fhir: view.fhir,
    agent,
    claims: verified,
    auth: {
      source: claims?.kind === 'verified' ? claims.source : 'none',
      subject: str(verified['sub']),
      issuer: str(verified['iss']),
    },
    now,
  });
}

export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const parseFhir = createFhirRequestParser({ basePaths: options.fhirBasePaths });
  const clock = options.now ?? Date.now;

  function context(input: CheckInput, claims: ClaimsResult, fullTrace: boolean, progress: CheckProgress): LaneContext {
    progress.claims = claims;
    const snapshot = options.snapshot();
    const view = requestView(input, parseFhir);
    progress.request = view;
    const match: AgentMatch = selectAgent(snapshot.policies, view.identity, snapshot.trustDomain);
    const agent =
      match.kind === 'match' ? { name: match.agent.name, tier: match.agent.tier, mode: match.agent.mode } : NO_AGENT;
    progress.agent = agent.name;
    const attributes = attributesOf(input, view, agent, claims, nowOf(input, clock));
    progress.attributes = attributes;
    const egress = classifyEgress(attributes, snapshot.egress);
    return { attributes, claims, match, egress, snapshot, fullTrace };
  }

  const complete = (
    input: CheckInput,
    claims: ClaimsResult,
    fullTrace: boolean,
    progress: CheckProgress,
  ): Authorization => {
    const ctx = context(input, claims, fullTrace, progress);
    return { decision: decide(ctx), attributes: ctx.attributes, context: ctx };
  };

  return {
    authorize(input, opts = {}) {
      const progress = opts.progress ?? {};
      progress.input = input;
      const headers = input.attributes.request?.http?.headers ?? {};
      const claims = options.claims.resolve({
        filterMetadata: input.attributes.metadata_context?.filter_metadata ?? {},
        authorization: headers['authorization'],
      });
      const full = opts.fullTrace === true;
      return claims instanceof Promise
        ? claims.then((c) => complete(input, c, full, progress))
        : complete(input, claims, full, progress);
    },
    known(progress) {
      const { input } = progress;
      if (progress.attributes !== undefined || input === undefined) return progress.attributes;
      // The stage that threw may throw again: each part falls back to what is certain.
      const view = progress.request ??
        attempt(() => requestView(input, parseFhir)) ?? {
          identity: attempt(() => parseSpiffeId(input.attributes.source?.principal ?? '')),
          fhir: emptyFhirAttributes(),
        };
      const agent = { ...NO_AGENT, name: progress.agent ?? '' };
      return (
        attempt(() => attributesOf(input, view, agent, progress.claims, nowOf(input, clock))) ??
        attempt(() =>
          attributesOf(
            input,
            { identity: undefined, fhir: emptyFhirAttributes() },
            NO_AGENT,
            undefined,
            new Date(clock()),
          ),
        )
      );
    },
  };
}
