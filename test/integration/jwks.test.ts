/**
 * In-service JWT verification (Istio CUSTOM providers do not forward jwt_authn metadata): the bearer token is
 * verified against a JWKS file; anything unverifiable is denied and never reaches policy.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const ISS = 'https://idp.hospital.example';
const AUD = 'phiguard';

function check(principal: string, authorization?: string) {
  return {
    attributes: {
      source: { principal },
      request: {
        http: {
          method: 'GET',
          path: '/fhir/Encounter?patient=p-1001',
          host: 'fhir.hospital.internal',
          headers: authorization ? { authorization } : {},
        },
      },
    },
  };
}

describe('bearer token verification against a JWKS', () => {
  let s: TestServer;
  let client: CheckClient;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  const t = tempDir();
  const scribe = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';

  const token = async (
    claims: Record<string, unknown>,
    opts: { key?: CryptoKey; exp?: string | number; aud?: string; iss?: string } = {},
  ) =>
    new SignJWT(claims)
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(opts.iss ?? ISS)
      .setAudience(opts.aud ?? AUD)
      .setSubject('Practitioner/dr-okafor')
      .setIssuedAt()
      .setExpirationTime(opts.exp ?? '10m')
      .sign(opts.key ?? key);

  beforeAll(async () => {
    ({ privateKey: key } = await generateKeyPair('ES256'));
    const pair = await generateKeyPair('ES256', { extractable: true });
    ({ privateKey: otherKey } = await generateKeyPair('ES256'));
    key = pair.privateKey;
    const jwk = { ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256', use: 'sig' };
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(jwksFile, JSON.stringify({ keys: [jwk] }));
    s = await startTestServer({ jwksFile, jwtIssuer: ISS, jwtAudience: [AUD] });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  const code = async (auth: string | undefined, principal = scribe) => {
    const res = await client.check(check(principal, auth));
    const status = (res['status'] as { code: number }).code;
    const body = res['denied_response']
      ? (JSON.parse((res['denied_response'] as { body: string }).body) as {
          issue: Array<{ details: { coding: Array<{ code: string }>; text: string } }>;
        })
      : undefined;
    return {
      status,
      reason: body?.issue[0]?.details.coding[0]?.code,
      text: body?.issue[0]?.details.text,
      http: (res['denied_response'] as { status?: { code: string } } | undefined)?.status?.code,
    };
  };

  test('a valid token verified in-service yields claims policy can use', async () => {
    expect(await code(`Bearer ${await token({ patient: 'p-1001' })}`)).toMatchObject({ status: 0 });
  });

  test('the verified claims are what policy sees (patient outside the encounter is denied)', async () => {
    expect(await code(`Bearer ${await token({ patient: 'p-9999' })}`)).toMatchObject({
      status: 7,
      reason: 'rule-deny',
    });
  });

  test.each([
    [
      'signed by another key (forged)',
      async () => `Bearer ${await token({ patient: 'p-1001' }, { key: otherKey })}`,
      'token-signature-invalid',
    ],
    [
      'expired',
      async () => `Bearer ${await token({ patient: 'p-1001' }, { exp: Math.floor(Date.now() / 1000) - 3600 })}`,
      'token-expired',
    ],
    [
      'for another audience',
      async () => `Bearer ${await token({ patient: 'p-1001' }, { aud: 'other-service' })}`,
      'token-claim-invalid:aud',
    ],
    [
      'from an unknown issuer',
      async () => `Bearer ${await token({ patient: 'p-1001' }, { iss: 'https://evil.example' })}`,
      'token-issuer-unknown',
    ],
    [
      'unsigned (alg none)',
      () => {
        const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
        return Promise.resolve(
          `Bearer ${b64({ alg: 'none' })}.${b64({ iss: ISS, aud: AUD, sub: 'Practitioner/x', patient: 'p-1001', exp: 9999999999 })}.`,
        );
      },
      'token-',
    ],
    ['not a JWT', () => Promise.resolve('Bearer not-a-jwt'), 'authorization-not-a-bearer-jwt'],
    ['basic auth', () => Promise.resolve('Basic dXNlcjpwYXNz'), 'authorization-not-a-bearer-jwt'],
  ])('a token %s is denied 401 and never reaches policy', async (_n, make, reason) => {
    const r = await code(await make());
    expect(r.status).toBe(7);
    expect(r.reason).toBe('invalid-token');
    expect(r.http).toBe('Unauthorized');
    expect(r.text).toContain(reason);
  });

  test('no token: policy sees no claims (auth.source none) and the scribe requires a clinician', async () => {
    expect(await code(undefined)).toMatchObject({
      status: 7,
      reason: 'rule-deny',
      text: 'A verified clinician context is required',
      http: 'Unauthorized',
    });
  });
});
