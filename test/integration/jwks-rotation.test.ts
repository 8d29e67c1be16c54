/**
 * Through the real gRPC service: a token whose key is removed from the JWKS file stops being accepted as soon as the
 * file is reloaded, though its verification was cached and its `exp` is an hour away; a token issued a day in the
 * future (RFC 7519 §4.1.6 `iat`) is denied 401 with a reason that does not echo it.
 */
import { renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey, type JWK } from 'jose';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const ISS = 'https://idp.hospital.example';
const AUD = 'phiguard';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const nowS = (): number => Math.floor(Date.now() / 1000);

describe('JWKS key removal and iat through the service', () => {
  let s: TestServer;
  let client: CheckClient;
  const t = tempDir();
  const jwksFile = path.join(t.dir, 'jwks.json');
  const keys: Array<{ priv: CryptoKey; jwk: JWK }> = [];

  const sign = (i: number, iat = nowS()) =>
    new SignJWT({ patient: 'p-1001' })
      .setProtectedHeader({ alg: 'ES256', kid: `k${i}` })
      .setIssuer(ISS)
      .setAudience(AUD)
      .setSubject('Practitioner/dr-okafor')
      .setIssuedAt(iat)
      .setExpirationTime(nowS() + 3600)
      .sign(keys[i]?.priv as CryptoKey);
  /** Publishes a key set as an atomic writer does (write elsewhere, rename into place). */
  const publish = (...ids: number[]): void => {
    writeFileSync(`${jwksFile}.next`, JSON.stringify({ keys: ids.map((i) => keys[i]?.jwk) }));
    renameSync(`${jwksFile}.next`, jwksFile);
  };
  const check = async (token: string) => {
    const res = await client.check({
      attributes: {
        source: { principal: SCRIBE },
        request: {
          http: {
            method: 'GET',
            path: '/fhir/Encounter?patient=p-1001',
            host: 'fhir.hospital.internal',
            headers: { authorization: `Bearer ${token}` },
          },
        },
      },
    });
    const denied = res['denied_response'] as { body: string } | undefined;
    return {
      code: (res['status'] as { code: number }).code,
      body: denied?.body ?? '',
      reason: denied
        ? (JSON.parse(denied.body) as { issue: Array<{ details: { text: string } }> }).issue[0]?.details.text
        : undefined,
    };
  };

  beforeAll(async () => {
    for (let i = 0; i < 2; i++) {
      const pair = await generateKeyPair('ES256', { extractable: true });
      keys.push({ priv: pair.privateKey, jwk: { ...(await exportJWK(pair.publicKey)), kid: `k${i}`, alg: 'ES256' } });
    }
    publish(0, 1);
    s = await startTestServer({ jwksFile, jwtIssuer: ISS, jwtAudience: [AUD] });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  test('a token accepted (and cached) is rejected once its key is removed from the JWKS file, long before exp', async () => {
    const token = await sign(0);
    const kept = await sign(1);
    expect((await check(token)).code).toBe(0);
    expect((await check(token)).code).toBe(0); // the cached verification
    expect((await check(kept)).code).toBe(0);
    const removedAt = Date.now();
    publish(1);
    let r = await check(token);
    while (r.code === 0 && Date.now() - removedAt < 5000) {
      await new Promise((res) => setTimeout(res, 25));
      r = await check(token);
    }
    expect(r).toMatchObject({ code: 7, reason: 'Denied: bearer token rejected (token-key-unknown)' });
    expect(Date.now() - removedAt).toBeLessThan(2000); // the reload, not the token's exp an hour away
    expect((await check(kept)).code).toBe(0);
    // Every later Check with it is denied too (nothing cached brings it back).
    for (let i = 0; i < 3; i++) expect((await check(token)).code).toBe(7);
  });

  test('a token issued a day in the future is denied 401; the answer does not echo the token', async () => {
    const token = await sign(1, nowS() + 86_400);
    const r = await check(token);
    expect(r).toMatchObject({ code: 7, reason: 'Denied: bearer token rejected (token-issued-in-future)' });
    for (const part of token.split('.')) expect(r.body).not.toContain(part);
    await s.server.close();
    const record = s.auditRecords().find((x) => x['reason'] === 'invalid-token');
    expect(record).toMatchObject({ principal: SCRIBE, clinician: '', authSource: 'none', patients: ['p-1001'] });
    expect(JSON.stringify(s.auditRecords())).not.toContain(token.split('.')[2] ?? '');
  });
});
