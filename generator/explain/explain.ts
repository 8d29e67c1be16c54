/**
 * `phiguard explain`: the derived attributes and the full rule trace for one request — the policy author's
 * debugger. Uses the same authorizer as the service.
 */
import { createAuthorizer, policyOnlySnapshot } from '../../authz/index.js';
import type {
  BaaRegistry,
  CheckInput,
  ClaimsResolver,
  CompiledPolicySet,
  Decision,
  Snapshot,
} from '../../authz/index.js';

export interface ExplainRequest {
  method: string;
  path: string;
  principal: string;
  headers: Record<string, string>;
  body?: string;
  host?: string;
  /** Verified claims to assume (as if jwt_authn had verified them). */
  claims?: Record<string, unknown>;
  /** Request time as Envoy stamps it (`attributes.request.time`, RFC 3339); default: the time of the run. */
  time?: string;
}

/** Builds the CheckInput Envoy would send for a request. */
export function checkInputFor(
  r: ExplainRequest,
  jwtAuthnNamespace = 'envoy.filters.http.jwt_authn',
  payloadKey = 'jwt_payload',
): CheckInput {
  const headers = Object.fromEntries(Object.entries(r.headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    attributes: {
      source: { principal: r.principal },
      request: {
        ...(r.time !== undefined ? { time: r.time } : {}),
        http: {
          method: r.method,
          path: r.path,
          host: r.host ?? headers['host'] ?? 'fhir.local',
          headers,
          ...(r.body !== undefined ? { body: r.body, size: Buffer.byteLength(r.body) } : {}),
        },
      },
      ...(r.claims
        ? { metadata_context: { filter_metadata: { [jwtAuthnNamespace]: { [payloadKey]: r.claims } } } }
        : {}),
    },
  };
}

export interface Explanation {
  attributes: unknown;
  decision: Decision;
}

/**
 * What `serve` decides on besides the policies, as far as a one-off run can know it: the BAA registry, the trust
 * domain, the internal domains and CIDR blocks. Containment state and rate-limit budgets are live state, not inputs:
 * a request the service denies as `contained` or `rate-limited` is explained as the rules decide it.
 */
export interface ExplainSources {
  baa?: BaaRegistry | undefined;
  trustDomain?: string | undefined;
  internalSuffixes?: readonly string[] | undefined;
  internalCidrs?: readonly string[] | undefined;
}

/** The snapshot the service would decide on for these sources. */
export function explainSnapshot(set: CompiledPolicySet, sources: ExplainSources = {}): Snapshot {
  const base = policyOnlySnapshot(set);
  return {
    ...base,
    baa: sources.baa,
    trustDomain: sources.trustDomain ?? base.trustDomain,
    egress: {
      ...base.egress,
      internalSuffixes: sources.internalSuffixes ?? base.egress.internalSuffixes,
      internalCidrs: sources.internalCidrs ?? [],
    },
  };
}

export async function explain(
  input: CheckInput,
  set: CompiledPolicySet,
  claims: ClaimsResolver,
  fhirBasePaths: readonly string[],
  sources: ExplainSources = {},
): Promise<Explanation> {
  const snapshot = explainSnapshot(set, sources);
  const authorizer = createAuthorizer({ snapshot: () => snapshot, claims, fhirBasePaths });
  const r = await authorizer.authorize(input, { fullTrace: true });
  return { attributes: r.attributes, decision: r.decision };
}

/** JSON with bigint as numbers, Maps as objects and Dates as ISO strings. */
export function toJson(v: unknown): string {
  return JSON.stringify(
    v,
    (_k, x: unknown): unknown =>
      typeof x === 'bigint' ? Number(x) : x instanceof Map ? (Object.fromEntries(x) as unknown) : x,
    2,
  );
}
