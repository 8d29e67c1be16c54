/**
 * Verified clinician claims.
 *
 * Two sources, both verified before anything reaches policy:
 * 1. Envoy's jwt_authn filter verified the token and wrote its payload into dynamic metadata
 *    (`payload_in_metadata`); ext_authz forwards it in
 * `metadata_context.filter_metadata["envoy.filters.http.jwt_authn"]`
 *    when listed in `metadata_context_namespaces` (ext_authz.proto).
 * 2. Istio's CUSTOM provider does not forward that metadata, so phiguard can verify the bearer token itself against
 *    configured issuers and JWKS (file, or URL fetched off the Check path: remote-key-set.ts).
 * Unverified claims never reach policy: a token that fails verification yields an error, not claims. A token that
 * could not be verified because no usable key set is held yields `keys-unavailable`, not a token error.
 *
 * Times (RFC 7519 §4.1.4-4.1.6), each with `clockSkewSeconds` of tolerance: `exp` must be in the future and `nbf` in
 * the past (jose), and `iat` must not be in the future (here, for both sources). A verified token is cached until its
 * `exp`, and only while the key set that verified it (RFC 7517 JWK Set; RFC 7515 §4.1.4 `kid`) is the one in force: a
 * JWKS file that changes, or a JWKS URL whose fetched set changes or is no longer usable (remote-key-set.ts),
 * invalidates it.
 */
import { readFileSync } from 'node:fs';
import { createLocalJWKSet, jwtVerify, errors as joseErrors, type JWTPayload, type JWTVerifyGetKey } from 'jose';
import { z } from 'zod';
import { err, ok, PhiguardError } from '../model/index.js';
import { watchReload } from '../reload/index.js';
import { createRemoteKeySet, KEYS_UNAVAILABLE, KeysUnavailable, type KeySetStatus } from './remote-key-set.js';

export const JwtIssuerSchema = z
  .object({
    issuer: z.string().min(1),
    audiences: z.array(z.string().min(1)).min(1),
    jwksFile: z.string().min(1).optional(),
    jwksUri: z.url().optional(),
    algorithms: z.array(z.string()).default(['RS256', 'PS256', 'ES256', 'ES384', 'EdDSA']),
  })
  .strict()
  .refine((v) => (v.jwksFile === undefined) !== (v.jwksUri === undefined), {
    message: 'exactly one of jwksFile or jwksUri',
  });

export const ClaimsConfigSchema = z
  .object({
    /** jwt_authn metadata: the filter namespace and the `payload_in_metadata` key. */
    jwtAuthnNamespace: z.string().default('envoy.filters.http.jwt_authn'),
    jwtAuthnPayloadKey: z.string().default('jwt_payload'),
    issuers: z.array(JwtIssuerSchema).default([]),
    clockSkewSeconds: z.number().int().min(0).max(300).default(60),
    /** When a bearer token is present but fails verification: deny the request (default) or ignore the token. */
    onInvalidToken: z.enum(['deny', 'ignore']).default('deny'),
    cacheSize: z.number().int().min(0).default(10_000),
  })
  .strict();
export type ClaimsConfig = z.infer<typeof ClaimsConfigSchema>;

export type ClaimsResult =
  | { readonly kind: 'none' }
  | { readonly kind: 'verified'; readonly source: 'jwt_authn' | 'jwks'; readonly claims: Record<string, unknown> }
  | { readonly kind: 'invalid'; readonly reason: string };

export interface ClaimsInput {
  /** `metadata_context.filter_metadata`, already unwrapped to plain JSON. */
  filterMetadata: Readonly<Record<string, unknown>>;
  /** The request's `authorization` header, if any. */
  authorization: string | undefined;
}

export interface ClaimsResolver {
  /**
   * Resolves verified claims. Synchronous when no signature has to be checked (jwt_authn metadata, no token, a
   * cached verified token); a Promise only when a token is verified for the first time. Never throws (the Promise
   * never rejects); never returns unverified claims.
   */
  resolve(input: ClaimsInput): ClaimsResult | Promise<ClaimsResult>;
  /** The key sets of the configured issuers (JWKS file or URL), each with whether it is usable now (none: []). */
  keySets?(): KeySetStatus[];
  /** Stops reloading JWKS files and fetching JWKS URLs. */
  close: () => void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * An issuer's key set and its version. A verification is reused from the cache only while the key set it was
 * verified against is still the one in force (same `version`, and `current()`), so a key removed from the JWKS stops
 * verifying cached tokens as soon as the key set changes, not at their `exp`.
 */
interface KeySource {
  keys: JWTVerifyGetKey;
  /** Changes whenever the key set does. */
  version: () => number;
  /** Whether the key set at `version` may be relied on without fetching it again. */
  current: () => boolean;
  status: () => KeySetStatus;
  close: () => void;
}

export interface ClaimsEvents {
  onKeysReloadFailed?: (file: string, message: string) => void;
  /** Each fetch of a JWKS URL: success, or failure with a short cause (remote-key-set.ts). */
  onKeysFetched?: (result: 'success' | 'failure', cause: string) => void;
  /** How long a changed JWKS file must stay unchanged before it is loaded (reload/watch-reload.ts). */
  reloadSettleMs?: number;
}

/**
 * A JWKS file, reloaded off the Check path (reload/watch-reload.ts). A file that does not load at startup is a
 * startup error; a bad later version keeps the last good key set and is reported (`onReloadFailed`).
 */
function fileKeySet(file: string, events: ClaimsEvents): KeySource {
  let version = 0;
  let loadedAtMs = Date.now();
  const loaded = watchReload({
    paths: () => [file],
    onReloadFailed: (e) => events.onKeysReloadFailed?.(file, e.message),
    ...(events.reloadSettleMs !== undefined ? { settleMs: events.reloadSettleMs } : {}),
    same: (a, b) => a.text === b.text,
    onReloaded: () => {
      version++;
      loadedAtMs = Date.now();
    },
    load: () => {
      try {
        const text = readFileSync(file, 'utf8');
        const parsed: unknown = JSON.parse(text);
        if (!isRecord(parsed) || !Array.isArray(parsed['keys'])) {
          return err(new PhiguardError('config', `JWKS file ${file} has no "keys" array`));
        }
        return ok({ text, keys: createLocalJWKSet({ keys: parsed['keys'] as never }) });
      } catch (e) {
        return err(new PhiguardError('config', `JWKS file ${file}: ${e instanceof Error ? e.message : 'unreadable'}`));
      }
    },
  });
  if (!loaded.ok) throw loaded.error;
  const w = loaded.value;
  return {
    keys: (header, token) => w.current().keys(header, token),
    version: () => version,
    current: () => true,
    status: () => ({ kind: 'file', available: true, loadedAtMs }),
    close: w.close,
  };
}

/** A JWKS URL (remote-key-set.ts): fetched off the Check path, usable for a bounded time after each fetch. */
function remoteKeySet(uri: string, events: ClaimsEvents): KeySource {
  const remote = createRemoteKeySet(uri, events.onKeysFetched ? { onFetch: events.onKeysFetched } : {});
  return {
    keys: remote.keys,
    version: remote.version,
    current: remote.current,
    status: remote.status,
    close: remote.close,
  };
}

/** Maps jose errors to safe reason codes (never the token or its claims). */
function reasonOf(e: unknown): string {
  if (e instanceof KeysUnavailable) return KEYS_UNAVAILABLE;
  if (e instanceof joseErrors.JWTExpired) return 'token-expired';
  if (e instanceof joseErrors.JWTClaimValidationFailed) return `token-claim-invalid:${e.claim}`;
  if (e instanceof joseErrors.JWSSignatureVerificationFailed) return 'token-signature-invalid';
  if (e instanceof joseErrors.JWKSNoMatchingKey) return 'token-key-unknown';
  if (e instanceof joseErrors.JOSEAlgNotAllowed) return 'token-algorithm-not-allowed';
  if (e instanceof joseErrors.JWTInvalid || e instanceof joseErrors.JWSInvalid) return 'token-malformed';
  return 'token-verification-failed';
}

/** Decodes the `iss` of a compact JWS without trusting it (only to pick the issuer config). */
function unverifiedIssuer(token: string): string | undefined {
  const payload = token.split('.')[1];
  if (payload === undefined) return undefined;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8'));
    return isRecord(parsed) && typeof parsed['iss'] === 'string' ? parsed['iss'] : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Why verified claims are not accepted after all, or undefined. `iat` (RFC 7519 §4.1.6) is when the token was
 * issued: one issued later than now plus the clock skew was not issued by a clock in step with ours (jose checks
 * `exp` §4.1.4 and `nbf` §4.1.5 with the same skew, but `iat` only for a maximum age).
 */
function timeReason(claims: Readonly<Record<string, unknown>>, skewSeconds: number, nowMs: number): string | undefined {
  const iat = claims['iat'];
  return typeof iat === 'number' && iat > nowMs / 1000 + skewSeconds ? 'token-issued-in-future' : undefined;
}

/** Most levels of nesting a JWKS-verified claim value may have. */
const MAX_CLAIM_DEPTH = 32;

class ClaimsTooDeep extends Error {}

/**
 * The claims as plain data, as the jwt_authn path hands them over (transport/check-request.ts): objects without a
 * prototype, so a claim key named `__proto__` is only a key. Throws ClaimsTooDeep past `MAX_CLAIM_DEPTH` levels.
 */
function plainClaim(v: unknown, depth = 0): unknown {
  if (depth > MAX_CLAIM_DEPTH) throw new ClaimsTooDeep();
  if (Array.isArray(v)) return v.map((x) => plainClaim(x, depth + 1));
  if (!isRecord(v)) return v;
  const out = Object.create(null) as Record<string, unknown>;
  for (const k of Object.keys(v)) out[k] = plainClaim(v[k], depth + 1);
  return out;
}

/** Creates the resolver. Throws on unusable configuration (e.g. unreadable JWKS file) — fail at startup. */
export function createClaimsResolver(config: ClaimsConfig, events: ClaimsEvents = {}): ClaimsResolver {
  const verifiers = new Map(
    config.issuers.map((iss) => {
      const source =
        iss.jwksFile !== undefined ? fileKeySet(iss.jwksFile, events) : remoteKeySet(iss.jwksUri ?? '', events);
      return [iss.issuer, { iss, source }] as const;
    }),
  );
  const cache = createVerifiedCache(config);
  const skew = config.clockSkewSeconds;

  async function verifyBearer(token: string): Promise<ClaimsResult> {
    const iss = unverifiedIssuer(token);
    const v = iss === undefined ? undefined : verifiers.get(iss);
    if (!v) return { kind: 'invalid', reason: 'token-issuer-unknown' };
    // The version before the keys are read: a key set that changes during the verification makes the entry stale.
    const version = v.source.version();
    try {
      const { payload } = await jwtVerify(token, v.source.keys, {
        issuer: v.iss.issuer,
        audience: v.iss.audiences,
        algorithms: v.iss.algorithms,
        clockTolerance: skew,
        requiredClaims: ['exp', 'sub'],
      });
      const reason = timeReason(payload, skew, Date.now());
      if (reason !== undefined) return { kind: 'invalid', reason };
      const claims = plainClaim(payload) as Record<string, unknown> & JWTPayload;
      cache.set(token, { claims, expMs: (claims.exp ?? 0) * 1000, source: v.source, version });
      return { kind: 'verified', source: 'jwks', claims };
    } catch (e) {
      return { kind: 'invalid', reason: e instanceof ClaimsTooDeep ? 'token-claims-too-deep' : reasonOf(e) };
    }
  }

  const ignoreInvalid = (r: ClaimsResult): ClaimsResult =>
    r.kind === 'invalid' && config.onInvalidToken === 'ignore' ? { kind: 'none' } : r;

  return {
    keySets: () => [...verifiers.values()].map((v) => v.source.status()),
    close: () => {
      for (const v of verifiers.values()) v.source.close();
    },
    resolve(input) {
      const ns = input.filterMetadata[config.jwtAuthnNamespace];
      if (isRecord(ns)) {
        const payload = ns[config.jwtAuthnPayloadKey];
        if (isRecord(payload)) {
          const reason = timeReason(payload, skew, Date.now());
          return ignoreInvalid(
            reason === undefined
              ? { kind: 'verified', source: 'jwt_authn', claims: payload }
              : { kind: 'invalid', reason },
          );
        }
      }
      const auth = input.authorization;
      if (auth === undefined || verifiers.size === 0) return { kind: 'none' };
      const m = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(auth.trim());
      if (!m?.[1]) return ignoreInvalid({ kind: 'invalid', reason: 'authorization-not-a-bearer-jwt' });
      return cache.get(m[1]) ?? verifyBearer(m[1]).then(ignoreInvalid);
    },
  };
}

interface CachedVerification {
  claims: Record<string, unknown>;
  expMs: number;
  source: KeySource;
  /** The key set's version the token was verified against. */
  version: number;
}

/**
 * Verified tokens: token -> claims, until `exp` (plus the clock skew) and only while the key set they were verified
 * against is in force. Bounded; oldest evicted first.
 */
function createVerifiedCache(config: ClaimsConfig): {
  get: (token: string) => ClaimsResult | undefined;
  set: (token: string, entry: CachedVerification) => void;
} {
  const cache = new Map<string, CachedVerification>();
  return {
    get(token) {
      const hit = cache.get(token);
      if (hit === undefined) return undefined;
      const keysInForce = hit.source.current() && hit.source.version() === hit.version;
      if (keysInForce && hit.expMs + config.clockSkewSeconds * 1000 > Date.now())
        return { kind: 'verified', source: 'jwks', claims: hit.claims };
      cache.delete(token);
      return undefined;
    },
    set(token, entry) {
      if (config.cacheSize <= 0) return;
      if (cache.size >= config.cacheSize) {
        const oldest = cache.keys().next();
        if (!oldest.done) cache.delete(oldest.value);
      }
      cache.set(token, entry);
    },
  };
}
