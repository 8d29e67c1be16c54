/**
 * No claim value makes a Check fail: through the real gRPC service (both topologies), hostile values of the claims
 * the decision reads — out-of-range NumericDates (`btg_activated_at: -1e20`, `1e300`), NaN-like strings, nested
 * objects, arrays, huge strings, `__proto__` and `constructor` keys — from jwt_authn metadata and from a JWKS-verified
 * token are denied by policy (never `internal-error`), and each audit record carries the caller, the method, the
 * patients and the verified clinician.
 */
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const ISS = 'https://idp.hospital.example';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const CLINICIAN = 'Practitioner/dr-adeyemi';
const nowS = Math.floor(Date.now() / 1000);

/** A valid code-blue break-glass activation for the scribe: it opens the read of p-9999 (tested below). */
const LANE = {
  sub: CLINICIAN,
  patient: 'p-1001',
  purpose_of_use: 'BTG',
  btg_class: 'code-blue',
  btg_agent: 'ambient-scribe',
  btg_activated_at: nowS - 60,
  exp: nowS + 3600,
};

const HOSTILE: ReadonlyArray<readonly [string, unknown]> = [
  ['-1e20', -1e20],
  ['1e300', 1e300],
  ['1e20', 1e20],
  ['-8.64e12 (one past the Date range, in seconds)', -8.64e12 - 1],
  ['"NaN"', 'NaN'],
  ['"Infinity"', 'Infinity'],
  ['"-1e400"', '-1e400'],
  ['null', null],
  ['true', true],
  ['a nested object', { a: { b: { c: [1, { d: 'x' }] } } }],
  ['an array', [1, '2', {}, []]],
  ['a huge string', 'x'.repeat(100_000)],
  ['an object with a __proto__ key', JSON.parse('{"__proto__":{"admin":true},"constructor":"x"}') as unknown],
];
/** The claims the break-glass lane needs: any hostile one closes the lane, and the standard deny stands. */
const LANE_CLAIMS = ['btg_activated_at', 'exp', 'purpose_of_use', 'btg_class', 'btg_agent'];

interface Case {
  name: string;
  claims: Record<string, unknown>;
}
const cases: Case[] = [
  ...LANE_CLAIMS.flatMap((claim) =>
    HOSTILE.map(([label, v]) => ({ name: `${claim}: ${label}`, claims: { ...LANE, [claim]: v } })),
  ),
  // Without a lane, the encounter's patient claim decides.
  ...HOSTILE.map(([label, v]) => ({
    name: `patient: ${label}`,
    claims: { sub: CLINICIAN, exp: nowS + 3600, patient: v },
  })),
  // A claim named like an Object.prototype member is only a key: the standard deny stands.
  ...['__proto__', 'constructor', 'toString', 'hasOwnProperty'].map((key) => ({
    name: `a claim named ${key}`,
    claims: Object.assign(JSON.parse(`{"${key}":{"x":1}}`) as Record<string, unknown>, {
      sub: CLINICIAN,
      exp: nowS + 3600,
      patient: 'p-1001',
    }),
  })),
];

describe.each(TOPOLOGIES)('hostile claim values (%s)', (_topology, start) => {
  let s: ServiceUnderTest;
  let client: CheckClient;
  let key: CryptoKey;
  const t = tempDir();
  let n = 0;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    s = await start({ jwksFile, jwtIssuer: ISS, jwtAudience: ['phiguard'] });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  /** A read of p-9999, outside the encounter; the claims come as jwt_authn metadata or in a signed bearer token. */
  async function read(
    claims: Record<string, unknown>,
    via: 'jwt_authn' | 'jwks',
  ): Promise<{ id: string; code: number }> {
    const id = `req-${++n}`;
    const headers: Record<string, string> = {};
    if (via === 'jwks') {
      const token = await new SignJWT(claims)
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISS)
        .setAudience('phiguard')
        .sign(key);
      headers['authorization'] = `Bearer ${token}`;
    }
    const request = toGrpcCheckRequest({
      attributes: {
        source: { principal: SCRIBE },
        request: {
          http: {
            id,
            method: 'GET',
            path: '/fhir/Observation?patient=p-9999',
            host: 'fhir.hospital.internal',
            headers,
          },
        },
        ...(via === 'jwt_authn'
          ? { metadata_context: { filter_metadata: { 'envoy.filters.http.jwt_authn': { jwt_payload: claims } } } }
          : {}),
      },
    });
    return { id, code: ((await client.check(request))['status'] as { code: number }).code };
  }

  test.each(['jwt_authn', 'jwks'] as const)(
    'the valid activation opens the lane (%s): the table below tests what closes it',
    async (via) => {
      expect((await read(LANE, via)).code).toBe(0);
    },
  );

  test('every hostile value is denied by policy, and recorded with caller, method, patients and clinician', async () => {
    const sent: Array<{ name: string; id: string; code: number; clinician: string }> = [];
    for (const via of ['jwt_authn', 'jwks'] as const) {
      for (const c of cases) {
        const r = await read(c.claims, via);
        const clinician = typeof c.claims['sub'] === 'string' ? c.claims['sub'] : '';
        sent.push({ name: `${via} ${c.name}`, ...r, clinician });
      }
    }
    expect(sent.filter((r) => r.code !== 7).map((r) => r.name)).toEqual([]);
    await s.service.close(); // flushes the audit trail (stop() in afterAll does not close it twice)
    const byId = new Map(s.auditRecords().map((r) => [r['requestId'], r]));
    for (const r of sent) {
      const record = byId.get(r.id);
      expect({ name: r.name, record }).toMatchObject({
        name: r.name,
        record: {
          decision: 'deny',
          principal: SCRIBE,
          agent: 'ambient-scribe',
          method: 'GET',
          interaction: 'search-type',
          resourceType: 'Observation',
          patients: ['p-9999'],
        },
      });
      expect({ name: r.name, reason: record?.['reason'] }).not.toEqual({ name: r.name, reason: 'internal-error' });
      // A token jose refused (a hostile exp) has no verified clinician; every other record names them.
      if (record?.['reason'] !== 'invalid-token')
        expect({ name: r.name, clinician: record?.['clinician'] }).toEqual({ name: r.name, clinician: r.clinician });
    }
  });
});
