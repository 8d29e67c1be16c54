/**
 * SPIFFE ids as Istio issues them: `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`
 * (Istio security docs, "Istio identity"; SPIFFE ID spec §2). Envoy puts the peer certificate's URI SAN in
 * `attributes.source.principal` (external_auth.proto / attribute_context.proto).
 */
export interface SpiffeIdentity {
  principal: string;
  trustDomain: string;
  namespace: string;
  serviceAccount: string;
}

const ISTIO_SPIFFE =
  /^spiffe:\/\/([a-z0-9._-]{1,255})\/ns\/([a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?)\/sa\/([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)$/;

/** Parses an Istio-style SPIFFE id. Returns undefined for anything else (including the empty principal). */
export function parseSpiffeId(principal: string): SpiffeIdentity | undefined {
  const m = ISTIO_SPIFFE.exec(principal);
  if (!m || m[1] === undefined || m[2] === undefined || m[4] === undefined) return undefined;
  return { principal, trustDomain: m[1], namespace: m[2], serviceAccount: m[4] };
}
