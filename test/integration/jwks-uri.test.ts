/**
 * In-service JWT verification against a JWKS *URL* served on loopback: keys are fetched once and cached, so checks
 * make no network call per request; a token signed by a key the JWKS lacks is denied.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import { createCheckClient } from '../../generator/call/index.js';
import { startTestServer } from '../helpers/server.js';

describe('JWKS from a URL', () => {
  test('keys are fetched once and cached across requests and tokens', async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    const other = await generateKeyPair('ES256');
    const jwks = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
    let fetches = 0;
    const idp = http.createServer((req, res) => {
      if (req.url === '/.well-known/jwks.json') {
        fetches++;
        res.writeHead(200, { 'content-type': 'application/json' });
        res.end(jwks);
      } else {
        res.writeHead(404);
        res.end();
      }
    });
    await new Promise<void>((r) => idp.listen(0, '127.0.0.1', () => r()));
    const port = (idp.address() as AddressInfo).port;
    const s = await startTestServer({
      jwksUri: `http://127.0.0.1:${port}/.well-known/jwks.json`,
      jwtIssuer: 'https://idp.test',
      jwtAudience: ['phiguard'],
    });
    const c = createCheckClient(s.addr);
    const token = (sub: string, key = pair.privateKey) =>
      new SignJWT({ patient: 'p-1001' })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer('https://idp.test')
        .setAudience('phiguard')
        .setSubject(sub)
        .setExpirationTime('10m')
        .sign(key);
    const status = async (auth: string) =>
      (
        (
          await c.check({
            attributes: {
              source: { principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe' },
              request: {
                http: {
                  method: 'GET',
                  path: '/fhir/Encounter?patient=p-1001',
                  host: 'fhir.hospital.internal',
                  headers: { authorization: auth },
                },
              },
            },
          })
        )['status'] as { code: number }
      ).code;
    try {
      for (let i = 0; i < 5; i++) expect(await status(`Bearer ${await token(`Practitioner/${i}`)}`)).toBe(0);
      expect(fetches).toBe(1);
      expect(await status(`Bearer ${await token('Practitioner/x', other.privateKey)}`)).toBe(7);
    } finally {
      c.close();
      await s.stop();
      await new Promise<void>((r) => idp.close(() => r()));
    }
  });
});
