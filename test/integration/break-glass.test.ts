/**
 * Break-glass lanes end to end through the real gRPC service, with tokens verified against a JWKS: the sanctioned
 * path, and the abuse cases (expired lane, forged or unsigned claim, another class, replay after expiry, a claim for
 * a different agent, a header the agent sets itself) — each denied with a clear reason.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { startTestServer, type TestServer } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

const ISS = 'https://idp.hospital.example';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
// Relative to the real clock: jose checks the token's exp against it.
const T0 = Math.floor(Date.now() / 60_000) * 60;
const iso = (seconds: number): string => new Date(seconds * 1000).toISOString();

describe('break-glass lanes', () => {
  let s: TestServer;
  let client: CheckClient;
  let key: CryptoKey;
  let otherKey: CryptoKey;
  const t = tempDir();
  const eventsFile = path.join(t.dir, 'audit-events.jsonl');

  const token = (claims: Record<string, unknown>, k?: CryptoKey) =>
    new SignJWT({ patient: 'p-1001', ...claims })
      .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
      .setIssuer(ISS)
      .setAudience('phiguard')
      .setSubject('Practitioner/dr-adeyemi')
      .setIssuedAt(T0)
      .setExpirationTime(T0 + 3 * 3600)
      .sign(k ?? key);
  const btg = { purpose_of_use: 'BTG', btg_class: 'code-blue', btg_agent: 'ambient-scribe', btg_activated_at: T0 };

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    ({ privateKey: otherKey } = await generateKeyPair('ES256'));
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    s = await startTestServer({
      jwksFile,
      jwtIssuer: ISS,
      jwtAudience: ['phiguard'],
      auditEventFile: eventsFile,
      envelopeDir: path.join(t.dir, 'envelopes'),
      replica: 'bg',
    });
    client = createCheckClient(s.addr);
  });
  afterAll(async () => {
    client.close();
    await s.stop();
    t.remove();
  });

  /** A chart read of p-9999 (outside the encounter's patient p-1001), at `minutesAfter` activation. */
  async function read(auth: string | undefined, minutesAfter: number, headers: Record<string, string> = {}) {
    const res = await client.check({
      attributes: {
        source: { principal: SCRIBE },
        request: {
          time: { seconds: String(T0 + minutesAfter * 60), nanos: 0 },
          http: {
            id: `req-${minutesAfter}-${Math.random()}`,
            method: 'GET',
            path: '/fhir/Observation?patient=p-9999&category=vital-signs',
            host: 'fhir.hospital.internal',
            headers: { ...headers, ...(auth ? { authorization: auth } : {}) },
          },
        },
      },
    });
    const denied = res['denied_response'] as { body: string } | undefined;
    const outcome = denied
      ? (JSON.parse(denied.body) as { issue: Array<{ details: { coding: Array<{ code: string }>; text: string } }> })
          .issue[0]
      : undefined;
    const headersOut =
      (res['ok_response'] as { headers?: Array<{ header: { key: string; value: string } }> } | undefined)?.headers ??
      [];
    return {
      code: (res['status'] as { code: number }).code,
      reason: outcome?.details.coding[0]?.code,
      text: outcome?.details.text,
      rule: headersOut.find((h) => h.header.key === 'x-phiguard-rule')?.header.value,
    };
  }

  test('without a lane, a patient outside the encounter is denied by the standard rules', async () => {
    expect(await read(`Bearer ${await token({})}`, 5)).toMatchObject({ code: 7, reason: 'rule-deny' });
  });

  test('an activated code-blue lane allows the read, and the access is attested', async () => {
    expect(await read(`Bearer ${await token(btg)}`, 5)).toMatchObject({ code: 0, rule: 'break-glass:code-blue' });
    await s.server.close();
    const records = s.auditRecords();
    const att = records.find((r) => r['type'] === 'break-glass-attestation');
    expect(att).toMatchObject({
      class: 'code-blue',
      purposeOfUse: 'BTG',
      clinician: 'Practitioner/dr-adeyemi',
      agent: 'ambient-scribe',
      principal: SCRIBE,
      activatedAt: iso(T0),
      expiresAt: iso(T0 + 3600),
      interaction: 'search-type',
      resources: ['Observation'],
      patients: ['p-9999'],
      overrode: { rule: 'only-the-encounter-patient', reason: 'rule-deny' },
    });
    expect(records.find((r) => r['decisionId'] === att?.['decisionId'] && r['type'] === 'decision')).toMatchObject({
      decision: 'allow',
      reason: 'break-glass',
      breakGlass: 'code-blue',
    });
    // The envelope records the break-glass class the agent was seen using.
    const env = readFileSync(path.join(t.dir, 'envelopes', 'scribe.ambient-scribe.bg.envelope.yaml'), 'utf8');
    expect(env).toMatch(/breakGlass:\n\s+code-blue: 1/);
    const events = readFileSync(eventsFile, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({
      resourceType: 'AuditEvent',
      action: 'E',
      outcome: '0',
      purposeOfEvent: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG' }] }],
      entity: expect.arrayContaining([expect.objectContaining({ what: { reference: 'Patient/p-9999' } })]),
    });
    // Restart for the abuse cases below (same configuration).
    const jwksFile = path.join(t.dir, 'jwks.json');
    s = await startTestServer({ jwksFile, jwtIssuer: ISS, jwtAudience: ['phiguard'] });
    client.close();
    client = createCheckClient(s.addr);
  });

  test.each([
    [
      'an expired lane (activated 2 hours ago)',
      async () => [`Bearer ${await token({ ...btg, btg_activated_at: T0 - 2 * 3600 })}`, 5] as const,
      'break-glass-expired',
    ],
    [
      'a replay of a valid lane token after its window',
      async () => [`Bearer ${await token(btg)}`, 61 + 2] as const,
      'break-glass-expired',
    ],
    [
      'a lane of another class',
      async () => [`Bearer ${await token({ ...btg, btg_class: 'ed-triage' })}`, 5] as const,
      'rule-deny',
    ],
    [
      'a lane claimed for a different agent',
      async () => [`Bearer ${await token({ ...btg, btg_agent: 'cds-sepsis' })}`, 5] as const,
      'rule-deny',
    ],
    [
      'a lane activated in the future',
      async () => [`Bearer ${await token({ ...btg, btg_activated_at: T0 + 3600 })}`, 5] as const,
      'rule-deny',
    ],
    [
      'a forged lane token (another key)',
      async () => [`Bearer ${await token(btg, otherKey)}`, 5] as const,
      'invalid-token',
    ],
  ])('%s is denied', async (_n, make, reason) => {
    const [auth, minutes] = await make();
    expect(await read(auth, minutes)).toMatchObject({ code: 7, reason });
  });

  test('an unsigned lane claim (alg none) is denied as an invalid token', async () => {
    const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
    const forged = `${b64({ alg: 'none' })}.${b64({ iss: ISS, aud: 'phiguard', sub: 'Practitioner/x', exp: T0 + 9999, patient: 'p-1001', ...btg })}.`;
    expect(await read(`Bearer ${forged}`, 5)).toMatchObject({ code: 7, reason: 'invalid-token' });
  });

  test('a header the agent sets itself never opens a lane', async () => {
    expect(
      await read(`Bearer ${await token({})}`, 5, { 'x-break-glass': 'code-blue', 'x-purpose-of-use': 'BTG' }),
    ).toMatchObject({ code: 7, reason: 'rule-deny' });
  });

  test('the expired-lane denial says when the lane expired', async () => {
    const r = await read(`Bearer ${await token({ ...btg, btg_activated_at: T0 - 2 * 3600 })}`, 5);
    expect(r.text).toBe(`Denied: break-glass lane "code-blue" expired at ${iso(T0 - 3600)}`);
  });
});
