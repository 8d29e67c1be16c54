/**
 * Verified clinician claims.
 *
 * Two sources, both verified before anything reaches policy:
 * 1. Envoy's jwt_authn filter verified the token and wrote its payload into dynamic metadata
 *    (`payload_in_metadata`); ext_authz forwards it in
 * `metadata_context.filter_metadata["envoy.filters.http.jwt_authn"]`
 *    when listed in `metadata_context_namespaces` (ext_authz.proto).
 * 2. Istio's CUSTOM provider does not forward that metadata, so phiguard can verify the bearer token itself against
 *    configured issuers and JWKS (file, or URL fetched and cached by jose — no network call per request).
 * Unverified claims never reach policy: a token that fails verification yields an error, not claims.
 */
import { readFileSync } from 'node:fs';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  jwtVerify,
  errors as joseErrors,
  type JWTPayload,
  type JWTVerifyGetKey,
} from 'jose';
import { z } from 'zod';
import { err, ok, PhiguardError } from '../model/index.js';
import { watchReload } from '../reload/index.js';

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
  /** Stops reloading JWKS files. */
  close: () => void;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/**
 * A JWKS file, reloaded off the Check path (reload/watch-reload.ts). A file that does not load at startup is a
 * startup error; a bad later version keeps the last good key set and is reported (`onReloadFailed`).
 */
function fileKeySet(
  file: string,
  onReloadFailed: (file: string, message: string) => void,
): { keys: JWTVerifyGetKey; close: () => void } {
  const loaded = watchReload({
    paths: () => [file],
    onReloadFailed: (e) => onReloadFailed(file, e.message),
    load: () => {
      try {
        const parsed: unknown = JSON.parse(readFileSync(file, 'utf8'));
        if (!isRecord(parsed) || !Array.isArray(parsed['keys'])) {
          return err(new PhiguardError('config', `JWKS file ${file} has no "keys" array`));
        }
        return ok(createLocalJWKSet({ keys: parsed['keys'] as never }));
      } catch (e) {
        return err(new PhiguardError('config', `JWKS file ${file}: ${e instanceof Error ? e.message : 'unreadable'}`));
      }
    },
  });
  if (!loaded.ok) throw loaded.error;
  const w = loaded.value;
  return { keys: (header, token) => w.current()(header, token), close: w.close };
}

/** Maps jose errors to safe reason codes (never the token or its claims). */
function reasonOf(e: unknown): string {
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

/** Creates the resolver. Throws on unusable configuration (e.g. unreadable JWKS file) — fail at startup. */
export function createClaimsResolver(
  config: ClaimsConfig,
  events: { onKeysReloadFailed?: (file: string, message: string) => void } = {},
): ClaimsResolver {
  const keysFailed = events.onKeysReloadFailed ?? (() => undefined);
  const verifiers = new Map(
    config.issuers.map((iss) => {
      const source =
        iss.jwksFile !== undefined
          ? fileKeySet(iss.jwksFile, keysFailed)
          : {
              keys: createRemoteJWKSet(new URL(iss.jwksUri ?? ''), {
                cacheMaxAge: 600_000,
                cooldownDuration: 30_000,
                timeoutDuration: 5_000,
              }),
              close: () => undefined,
            };
      return [iss.issuer, { iss, keys: source.keys, close: source.close }] as const;
    }),
  );
  // Verified-token cache: token -> claims, until exp. Bounded; oldest evicted first.
  const cache = new Map<string, { claims: Record<string, unknown>; expMs: number }>();

  function cached(token: string): ClaimsResult | undefined {
    const hit = cache.get(token);
    if (hit && hit.expMs + config.clockSkewSeconds * 1000 > Date.now())
      return { kind: 'verified', source: 'jwks', claims: hit.claims };
    if (hit) cache.delete(token);
    return undefined;
  }

  async function verifyBearer(token: string): Promise<ClaimsResult> {
    const iss = unverifiedIssuer(token);
    const v = iss === undefined ? undefined : verifiers.get(iss);
    if (!v) return { kind: 'invalid', reason: 'token-issuer-unknown' };
    try {
      const { payload } = await jwtVerify(token, v.keys, {
        issuer: v.iss.issuer,
        audience: v.iss.audiences,
        algorithms: v.iss.algorithms,
        clockTolerance: config.clockSkewSeconds,
        requiredClaims: ['exp', 'sub'],
      });
      const claims = { ...payload } as Record<string, unknown> & JWTPayload;
      if (config.cacheSize > 0) {
        if (cache.size >= config.cacheSize) {
          const oldest = cache.keys().next();
          if (!oldest.done) cache.delete(oldest.value);
        }
        cache.set(token, { claims, expMs: (claims.exp ?? 0) * 1000 });
      }
      return { kind: 'verified', source: 'jwks', claims };
    } catch (e) {
      return { kind: 'invalid', reason: reasonOf(e) };
    }
  }

  const ignoreInvalid = (r: ClaimsResult): ClaimsResult =>
    r.kind === 'invalid' && config.onInvalidToken === 'ignore' ? { kind: 'none' } : r;

  return {
    close: () => {
      for (const v of verifiers.values()) v.close();
    },
    resolve(input) {
      const ns = input.filterMetadata[config.jwtAuthnNamespace];
      if (isRecord(ns)) {
        const payload = ns[config.jwtAuthnPayloadKey];
        if (isRecord(payload)) return { kind: 'verified', source: 'jwt_authn', claims: payload };
      }
      const auth = input.authorization;
      if (auth === undefined || verifiers.size === 0) return { kind: 'none' };
      const m = /^Bearer[ ]+([A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*)$/i.exec(auth.trim());
      if (!m?.[1])
        return config.onInvalidToken === 'deny'
          ? { kind: 'invalid', reason: 'authorization-not-a-bearer-jwt' }
          : { kind: 'none' };
      return cached(m[1]) ?? verifyBearer(m[1]).then(ignoreInvalid);
    },
  };
}
