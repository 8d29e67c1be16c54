/**
 * The authorizer: CheckInput -> (attributes, Decision). Resolves identity and verified claims, parses the FHIR
 * request, selects the agent policy and decides. Shared by the gRPC server and `phiguard explain`, so what
 * explain prints is what the service does.
 */
import type { RequestAttributesModel } from '../model/attributes.js';
import { buildAttributes } from './build-attributes.js';
import { BUILTIN_RULES, DECISION_REASONS, denyDecision, type Decision } from '../model/decision.js';
import { decide } from './policy-rules.js';
import { requestTimeMs, type CheckInput } from '../transport/index.js';
import { createFhirRequestParser } from '../fhir/index.js';
import { parseSpiffeId, type ClaimsResolver, type ClaimsResult } from '../identity/index.js';
import { hashPatient, type ContainmentStore, type createPatientContext } from '../containment/index.js';
import { classifyEgress, coverageInfo, type BaaRegistry, type CredentialStore, type EgressOptions, type RateLimiter } from '../egress/index.js';

/** Internal host suffixes when none are configured: in-cluster names and private DNS zones. */
export const DEFAULT_INTERNAL_SUFFIXES = ['.svc.cluster.local', '.svc', '.cluster.local', '.internal', '.local', '.localdomain'];
import type { PolicyStore } from '../policy/index.js';
import { selectAgent } from './select-agent.js';

export interface AuthorizerOptions {
  policies: Pick<PolicyStore, 'current'>;
  /** The egress lane: the BAA registry in force (undefined: outside egress is denied) and what counts as internal. */
  egress?: { registry: () => BaaRegistry | undefined; options: EgressOptions; credentials?: CredentialStore; rateLimiter?: RateLimiter };
  /** Containment state (shared across replicas) and the per-agent patient context window. */
  containment?: { store: ContainmentStore; context: ReturnType<typeof createPatientContext> };
  claims: ClaimsResolver;
  fhirBasePaths: readonly string[];
  /** Clock, for tests. */
  now?: () => number;
}

export interface Authorization {
  decision: Decision;
  attributes: RequestAttributesModel;
}

export interface Authorizer {
  /**
   * Decides one request. Never throws and never rejects: any failure is a deny decision. Returns synchronously
   * unless a bearer token must be verified for the first time.
   */
  authorize(input: CheckInput, options?: { fullTrace?: boolean }): Authorization | Promise<Authorization>;
}

export function createAuthorizer(options: AuthorizerOptions): Authorizer {
  const parseFhir = createFhirRequestParser({ basePaths: options.fhirBasePaths });
  const clock = options.now ?? Date.now;

  function complete(input: CheckInput, claimsResult: ClaimsResult, fullTrace: boolean): Authorization {
    const set = options.policies.current();
    const http = input.attributes.request?.http ?? {};
    const headers = http.headers ?? {};
    const identity = parseSpiffeId(input.attributes.source?.principal ?? '');
    const nowMs = requestTimeMs(input) ?? clock();
    const fhir = parseFhir({
      method: http.method ?? '',
      path: http.path ?? '',
      headers,
      body: http.body,
      bodyTruncated: headers['x-envoy-auth-partial-body'] === 'true',
    });
    const match = selectAgent(set, identity);
    const claims = claimsResult.kind === 'verified' ? claimsResult.claims : {};
    const str = (v: unknown): string => (typeof v === 'string' ? v : '');
    const attributes = buildAttributes({
      input,
      identity,
      fhir,
      agent: match.kind === 'match' ? { name: match.agent.name, tier: match.agent.tier, mode: match.agent.mode } : { name: '', tier: '', mode: '' },
      claims,
      auth: {
        source: claimsResult.kind === 'verified' ? claimsResult.source : 'none',
        subject: str(claims['sub']),
        issuer: str(claims['iss']),
      },
      now: new Date(nowMs),
    });
    const v = set.version;
    if (match.kind === 'none') {
      return {
        attributes,
        decision: denyDecision({ rule: BUILTIN_RULES.unknownPrincipal, reason: DECISION_REASONS.unknownAgent, message: 'Denied: caller is not a known agent', policyVersion: v }),
      };
    }
    if (match.kind === 'ambiguous') {
      return {
        attributes,
        decision: denyDecision({ rule: BUILTIN_RULES.ambiguousPrincipal, reason: DECISION_REASONS.ambiguousAgent, message: 'Denied: caller matches more than one agent policy', policyVersion: v }),
      };
    }
    if (claimsResult.kind === 'invalid') {
      // A presented token that fails verification is an attack or a misconfiguration: deny in every mode.
      return {
        attributes,
        decision: denyDecision({
          agent: match.agent.name, rule: BUILTIN_RULES.invalidToken, reason: DECISION_REASONS.invalidToken, status: 401,
          message: `Denied: bearer token rejected (${claimsResult.reason})`, policyVersion: v,
        }),
      };
    }
    const eg = classifyEgress(attributes, options.egress?.options ?? { internalSuffixes: DEFAULT_INTERNAL_SUFFIXES });
    const contained = options.containment?.store.get(match.agent.name, attributes.now.getTime());
    if (contained) {
      const deny = (why: string): Authorization => ({
        attributes,
        decision: denyDecision({ agent: match.agent.name, rule: `containment:${contained.action}`, reason: DECISION_REASONS.contained, status: 403, message: `Denied: agent contained (${contained.action}, ${contained.trigger}) until ${contained.until}: ${why}`, policyVersion: v }),
      });
      if (contained.action === 'stop') return deny('all requests are denied');
      if (contained.action === 'soft-quarantine' && eg.kind !== 'internal') return deny('outside egress is denied');
      if (contained.action === 'pause' && fhir.patients.some((p) => !contained.contextPatients.includes(hashPatient(contained.salt, p)))) return deny('only patients already in the active context are served');
    }
    let exception: string | undefined;
    if (eg.kind === 'hard') {
      exception = match.agent.policy.spec.egressExceptions.find((e) => e.target === eg.target)?.target;
      if (exception === undefined) {
        // Whatever the policy says, in every mode: credentials and cluster control live there.
        return {
          attributes,
          decision: denyDecision({ agent: match.agent.name, rule: `protected:${eg.target}`, reason: DECISION_REASONS.protectedEndpoint, message: `Denied: ${eg.target} is never reachable for agents`, policyVersion: v }),
        };
      }
    }
    let d = decide(match.agent, attributes, v, { fullTrace });
    if (exception !== undefined) d.exception = exception;
    if (eg.kind === 'outside') {
      const info = coverageInfo(options.egress?.registry(), eg.host, eg.port, attributes.now);
      if (d.outcome === 'allow' && !info.covered) {
        // Policy allow AND an active BAA at the moment of contact; a BAA gap is denied in every mode.
        d = denyDecision({ agent: match.agent.name, rule: 'baa-registry', reason: DECISION_REASONS.baaNotCovered, message: `Denied: ${eg.host}:${eg.port} is not covered by an active Business Associate Agreement (${info.reason})`, policyVersion: v });
      }
      const limit = match.agent.policy.spec.egressRateLimit;
      if (d.outcome === 'allow' && limit && options.egress?.rateLimiter && !options.egress.rateLimiter.take(match.agent.name, limit, attributes.now.getTime())) {
        d = denyDecision({ agent: match.agent.name, rule: 'egress-rate-limit', reason: DECISION_REASONS.rateLimited, status: 429, message: `Denied: egress rate limit of ${limit.requests} requests per ${limit.perSeconds}s exceeded`, policyVersion: v });
      }
      d.egress = info;
      if (d.outcome === 'allow' && info.covered) {
        const inj = options.egress?.credentials?.forHost(eg.host);
        if (inj) d.inject = inj;
      }
    }
    if (d.outcome === 'allow') options.containment?.context.see(match.agent.name, fhir.patients, attributes.now.getTime());
    return { attributes, decision: d };
  }

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
