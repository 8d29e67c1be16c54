/**
 * CheckInput + identity + verified claims + FHIR view -> the attribute model CEL sees. Total: no value of the request
 * or of a claim makes it throw (claims are passed through as data; numbers become CEL ints only when representable).
 */
import type { FhirAttributes, RequestAttributesModel } from '../model/index.js';
import type { CheckInput } from '../model/index.js';
import type { SpiffeIdentity } from '../identity/index.js';

/** Headers never exposed to policy: credentials. Policy sees verified claims instead. */
const HIDDEN_HEADERS = new Set(['authorization', 'proxy-authorization', 'cookie']);

/** The headers as the map CEL sees: a `Map`, so a header named `constructor` is only a key. */
export function policyHeaders(headers: Readonly<Record<string, string>>): Map<string, string> {
  const out = new Map<string, string>();
  for (const k in headers) {
    const v = headers[k];
    if (v !== undefined && Object.hasOwn(headers, k) && !HIDDEN_HEADERS.has(k)) out.set(k, v);
  }
  return out;
}

/**
 * The claims as the map CEL sees: `Map`s all the way down (objects in claims become Maps, lists stay lists), so a
 * claim or nested key named `constructor` is only a key. Claims are bounded in depth by the resolver (32 levels).
 */
function claimMap(claims: Readonly<Record<string, unknown>>): Map<string, unknown> {
  const out = new Map<string, unknown>();
  for (const k in claims) if (Object.hasOwn(claims, k)) out.set(k, claimValue(claims[k]));
  return out;
}

function claimValue(v: unknown): unknown {
  if (typeof v !== 'object' || v === null) return v;
  if (Array.isArray(v)) return v.some((x) => typeof x === 'object' && x !== null) ? v.map(claimValue) : v;
  return claimMap(v as Record<string, unknown>);
}

/**
 * A CEL `int` (int64) from a count of the request: its integer part, 0 when negative or not finite, and at most
 * 2^53 - 1 (a number is an exact integer only up to there). `BigInt` of NaN, an infinity or a fraction throws.
 */
function celInt(v: number | undefined): bigint {
  if (v === undefined || !Number.isFinite(v)) return 0n;
  return BigInt(Math.min(Number.MAX_SAFE_INTEGER, Math.max(0, Math.trunc(v))));
}

export interface AttributeParts {
  input: CheckInput;
  identity: SpiffeIdentity | undefined;
  fhir: FhirAttributes;
  agent: { name: string; tier: string; mode: string };
  claims: Record<string, unknown>;
  auth: { source: string; subject: string; issuer: string };
  now: Date;
}

export function buildAttributes(p: AttributeParts): RequestAttributesModel {
  const a = p.input.attributes;
  const http = a.request?.http ?? {};
  const rawPath = http.path ?? '';
  const q = rawPath.indexOf('?');
  return {
    request: {
      // As sent: methods are case-sensitive (RFC 9110 §9.1), and the FHIR parser refuses any but the standard ones.
      method: http.method ?? '',
      path: q === -1 ? rawPath : rawPath.slice(0, q),
      query: q === -1 ? '' : rawPath.slice(q + 1),
      host: http.host ?? '',
      scheme: http.scheme ?? '',
      headers: policyHeaders(http.headers ?? {}),
      id: http.id ?? http.headers?.['x-request-id'] ?? '',
      size: celInt(http.size),
    },
    source: {
      principal: a.source?.principal ?? '',
      trustDomain: p.identity?.trustDomain ?? '',
      namespace: p.identity?.namespace ?? '',
      serviceAccount: p.identity?.serviceAccount ?? '',
      address: a.source?.address?.socket_address?.address ?? '',
    },
    destination: {
      address: a.destination?.address?.socket_address?.address ?? '',
      port: celInt(a.destination?.address?.socket_address?.port_value),
      principal: a.destination?.principal ?? '',
    },
    agent: p.agent,
    fhir: p.fhir,
    claims: claimMap(p.claims),
    auth: p.auth,
    now: p.now,
  };
}
