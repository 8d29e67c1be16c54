/**
 * `phiguard explain`: the derived attributes and the full rule trace for one request — the policy author's
 * debugger. Uses the same authorizer as the service.
 */
import { createAuthorizer, policyOnlySnapshot } from '../../authz/index.js';
import type { CheckInput, ClaimsResolver, CompiledPolicySet, Decision } from '../../authz/index.js';

export interface ExplainRequest {
  method: string;
  path: string;
  principal: string;
  headers: Record<string, string>;
  body?: string;
  host?: string;
  /** Verified claims to assume (as if jwt_authn had verified them). */
  claims?: Record<string, unknown>;
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

export async function explain(
  input: CheckInput,
  set: CompiledPolicySet,
  claims: ClaimsResolver,
  fhirBasePaths: readonly string[],
): Promise<Explanation> {
  const authorizer = createAuthorizer({ snapshot: () => policyOnlySnapshot(set), claims, fhirBasePaths });
  const r = await authorizer.authorize(input, { fullTrace: true });
  return { attributes: r.attributes, decision: r.decision };
}

/** JSON with bigint as numbers and Dates as ISO strings. */
export function toJson(v: unknown): string {
  return JSON.stringify(v, (_k, x: unknown) => (typeof x === 'bigint' ? Number(x) : x), 2);
}
