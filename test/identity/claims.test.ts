/**
 * Verified claims: `iat` in the future (RFC 7519 §4.1.6) is rejected beyond the clock skew, from a JWKS-verified
 * token and from jwt_authn metadata alike; a cached verification lasts only while the key set that verified it is in
 * force (a JWKS file that changes, a JWKS URL whose set changes or ages out); claims are plain data.
 */
import { renameSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, jest, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import {
  ClaimsConfigSchema,
  createClaimsResolver,
  type ClaimsConfig,
  type ClaimsResolver,
  type ClaimsResult,
} from '../../authz/identity/index.js';
import { tempDir } from '../helpers/temp.js';

const ISS = 'https://idp.hospital.example';
const AUD = 'phiguard';
const nowS = (): number => Math.floor(Date.now() / 1000);

interface Key {
  priv: CryptoKey;
  jwk: JWK;
}
async function key(kid: string): Promise<Key> {
  const pair = await generateKeyPair('ES256', { extractable: true });
  return { priv: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid, alg: 'ES256' } };
}
const sign = (k: Key, claims: Record<string, unknown> = {}, iat: number = nowS()): Promise<string> =>
  new SignJWT({ patient: 'p-1', ...claims })
    .setProtectedHeader({ alg: 'ES256', kid: k.jwk.kid ?? '' })
    .setIssuer(ISS)
    .setAudience(AUD)
    .setSubject('Practitioner/dr-okafor')
    .setIssuedAt(iat)
    .setExpirationTime(nowS() + 3600)
    .sign(k.priv);
const bearer = (token: string) => ({ filterMetadata: {}, authorization: `Bearer ${token}` });
const until = async (cond: () => Promise<boolean>, ms = 4000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!(await cond()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  return cond();
};

let k1: Key;
let k2: Key;
beforeAll(async () => {
  k1 = await key('k1');
  k2 = await key('k2');
});

describe('iat (RFC 7519 §4.1.6) beyond the clock skew', () => {
  const t = tempDir();
  let resolver: ClaimsResolver;
  beforeAll(() => {
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [k1.jwk] }));
    resolver = createClaimsResolver(
      ClaimsConfigSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], jwksFile }], clockSkewSeconds: 60 }),
    );
  });
  afterAll(() => {
    resolver.close();
    t.remove();
  });

  test.each([
    ['a day in the future', 'invalid', 86_400],
    ['66 s in the future (past the 60 s skew)', 'invalid', 66],
    ['30 s in the future (within the skew)', 'verified', 30],
    ['now', 'verified', 0],
    ['an hour ago', 'verified', -3600],
  ])('a JWKS-verified token issued %s is %s', async (_n, kind, offset) => {
    const token = await sign(k1, {}, nowS() + offset);
    const r = await resolver.resolve(bearer(token));
    expect(r.kind).toBe(kind);
    if (r.kind === 'invalid') {
      expect(r.reason).toBe('token-issued-in-future');
      expect(JSON.stringify(r)).not.toContain(token.split('.')[1]);
    }
  });

  test('jwt_authn metadata with iat a day in the future is rejected too (deny), or ignored (ignore)', () => {
    const payload = Object.assign(Object.create(null) as Record<string, unknown>, {
      sub: 'Practitioner/x',
      iat: nowS() + 86_400,
      exp: nowS() + 90_000,
    });
    const input = {
      filterMetadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: payload } },
      authorization: undefined,
    };
    expect(createClaimsResolver(ClaimsConfigSchema.parse({})).resolve(input)).toEqual({
      kind: 'invalid',
      reason: 'token-issued-in-future',
    });
    expect(createClaimsResolver(ClaimsConfigSchema.parse({ onInvalidToken: 'ignore' })).resolve(input)).toEqual({
      kind: 'none',
    });
    payload['iat'] = nowS() - 10;
    expect(createClaimsResolver(ClaimsConfigSchema.parse({})).resolve(input)).toMatchObject({ kind: 'verified' });
  });

  test('JWKS-verified claims are plain data: a __proto__ claim is a key, objects have no prototype', async () => {
    const token = await sign(k1, JSON.parse('{"ctx":{"__proto__":{"admin":true},"ward":"4B"}}') as never);
    const r = await resolver.resolve(bearer(token));
    if (r.kind !== 'verified') throw new Error(r.kind);
    const ctx = r.claims['ctx'] as Record<string, unknown>;
    expect(Object.getPrototypeOf(r.claims)).toBeNull();
    expect(Object.getPrototypeOf(ctx)).toBeNull();
    expect(Object.hasOwn(ctx, '__proto__')).toBe(true);
    expect(ctx['ward']).toBe('4B');
  });

  test('claims nested deeper than 32 levels are not accepted', async () => {
    let deep: unknown = 'x';
    for (let i = 0; i < 40; i++) deep = [deep];
    expect(await resolver.resolve(bearer(await sign(k1, { deep })))).toEqual({
      kind: 'invalid',
      reason: 'token-claims-too-deep',
    });
  });
});

describe('a cached verification lasts only while its key set is in force (JWKS file)', () => {
  const t = tempDir();
  const jwksFile = path.join(t.dir, 'jwks.json');
  const open: ClaimsResolver[] = [];
  afterEach(() => {
    for (const r of open.splice(0)) r.close();
  });
  afterAll(() => t.remove());

  const start = (): ClaimsResolver => {
    writeFileSync(jwksFile, JSON.stringify({ keys: [k1.jwk, k2.jwk] }));
    const r = createClaimsResolver(
      ClaimsConfigSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], jwksFile }] }),
      { reloadSettleMs: 100 },
    );
    open.push(r);
    return r;
  };
  /** Writes the JWKS by rename (as a Secret volume or an atomic writer would) or in place. */
  const publish = (keys: JWK[], how: 'rename' | 'in place'): void => {
    const text = JSON.stringify({ keys });
    if (how === 'in place') return writeFileSync(jwksFile, text);
    writeFileSync(`${jwksFile}.tmp`, text);
    renameSync(`${jwksFile}.tmp`, jwksFile);
  };

  test.each(['rename', 'in place'] as const)(
    'a token whose key is removed from the file (%s) is rejected from the reload on, not at its exp',
    async (how) => {
      const r = start();
      const token = await sign(k1);
      expect((await r.resolve(bearer(token))).kind).toBe('verified');
      const cached = r.resolve(bearer(token));
      expect(cached instanceof Promise).toBe(false); // served from the cache
      expect((cached as ClaimsResult).kind).toBe('verified');
      const other = await sign(k2);
      expect((await r.resolve(bearer(other))).kind).toBe('verified');
      publish([k2.jwk], how);
      expect(await until(async () => (await r.resolve(bearer(token))).kind === 'invalid')).toBe(true);
      expect(await r.resolve(bearer(token))).toEqual({ kind: 'invalid', reason: 'token-key-unknown' });
      // A token whose key stays is verified again against the new set, and still accepted.
      expect((await r.resolve(bearer(other))).kind).toBe('verified');
    },
  );

  test('a rewrite with the same key set keeps the cache', async () => {
    const r = start();
    const token = await sign(k1);
    await r.resolve(bearer(token));
    publish([k1.jwk, k2.jwk], 'rename');
    await new Promise((res) => setTimeout(res, 400));
    expect(r.resolve(bearer(token)) instanceof Promise).toBe(false);
  });
});

describe('a cached verification lasts only while its key set is in force (JWKS URL)', () => {
  let keys: JWK[] = [];
  let fetches = 0;
  const idp = http.createServer((_req, res) => {
    fetches++;
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify({ keys }));
  });
  let config: ClaimsConfig;
  beforeAll(async () => {
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    const uri = `http://127.0.0.1:${(idp.address() as AddressInfo).port}/jwks.json`;
    config = ClaimsConfigSchema.parse({ issuers: [{ issuer: ISS, audiences: [AUD], jwksUri: uri }] });
  });
  afterEach(() => {
    jest.restoreAllMocks();
  });
  afterAll(() => new Promise<void>((r) => idp.close(() => r())));

  test('a key removed at the IdP: the cached token is verified again once the fetched set is older than the 5-minute refresh', async () => {
    keys = [k1.jwk, k2.jwk];
    fetches = 0;
    const r = createClaimsResolver(config);
    const token = await sign(k1);
    // The first verification fetched the set (its version changed during it): the second one is cached.
    expect((await r.resolve(bearer(token))).kind).toBe('verified');
    expect((await r.resolve(bearer(token))).kind).toBe('verified');
    expect(r.resolve(bearer(token)) instanceof Promise).toBe(false);
    keys = [k2.jwk];
    const real = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => real + 601_000);
    expect(await r.resolve(bearer(token))).toEqual({ kind: 'invalid', reason: 'token-key-unknown' });
    expect(fetches).toBe(2);
  });

  test('a refetch that brings a different set (an unknown kid) drops the verifications of the old one', async () => {
    keys = [k1.jwk];
    fetches = 0;
    const r = createClaimsResolver(config);
    const token = await sign(k1);
    expect((await r.resolve(bearer(token))).kind).toBe('verified');
    expect((await r.resolve(bearer(token))).kind).toBe('verified');
    expect(r.resolve(bearer(token)) instanceof Promise).toBe(false);
    keys = [k2.jwk]; // k1 rotated out, k2 in
    const real = Date.now();
    jest.spyOn(Date, 'now').mockImplementation(() => real + 31_000); // past the 30 s refetch cooldown
    expect((await r.resolve(bearer(await sign(k2)))).kind).toBe('verified');
    expect(fetches).toBe(2);
    const again = r.resolve(bearer(token));
    expect(again instanceof Promise).toBe(true); // not from the cache
    expect(await again).toEqual({ kind: 'invalid', reason: 'token-key-unknown' });
  });
});
