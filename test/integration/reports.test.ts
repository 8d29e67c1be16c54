/** Reports over an audit trail written by the real service (chart reads, a break-glass access, egress). */
import { copyFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, type CryptoKey } from 'jose';
import { createCheckClient } from '../../generator/call/index.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir, timelessRegistry } from '../helpers/temp.js';
import { cli } from '../helpers/cli.js';

const ISS = 'https://idp.hospital.example';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
// Relative to the real clock: jose checks the token's exp against it.
const T0 = Math.floor(Date.now() / 60_000) * 60;

describe('phiguard report', () => {
  const t = tempDir();
  let audit = '';
  let key: CryptoKey;

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
    key = pair.privateKey;
    const jwksFile = path.join(t.dir, 'jwks.json');
    writeFileSync(
      jwksFile,
      JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] }),
    );
    timelessRegistry(path.join(t.dir, 'registry.yaml'));
    const s = await startTestServer({
      jwksFile,
      jwtIssuer: ISS,
      jwtAudience: ['phiguard'],
      baaRegistry: path.join(t.dir, 'registry.yaml'),
    });
    const c = createCheckClient(s.addr);
    const tok = (extra: Record<string, unknown> = {}) =>
      new SignJWT({ patient: 'p-1001', ...extra })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISS)
        .setAudience('phiguard')
        .setSubject('Practitioner/dr-adeyemi')
        .setExpirationTime(T0 + 3 * 3600)
        .sign(key);
    const send = async (principal: string, method: string, p: string, host: string, minutes: number, auth?: string) =>
      c.check({
        attributes: {
          source: { principal },
          request: {
            time: { seconds: String(T0 + minutes * 60), nanos: 0 },
            http: {
              id: `r-${minutes}-${p}`,
              method,
              path: p,
              host,
              scheme: host.includes('.example') || host.includes('azure') ? 'https' : 'http',
              headers: auth ? { authorization: auth } : {},
            },
          },
        },
      });
    const plain = `Bearer ${await tok()}`;
    await send(SCRIBE, 'GET', '/fhir/Encounter?patient=p-1001', 'fhir.hospital.internal', 1, plain);
    await send(SCRIBE, 'GET', '/fhir/Patient/p-1001', 'fhir.hospital.internal', 2, plain);
    await send(SCRIBE, 'GET', '/fhir/Observation?patient=p-9999', 'fhir.hospital.internal', 3, plain); // denied
    await send(
      SCRIBE,
      'GET',
      '/fhir/Observation?patient=p-9999&category=vital-signs',
      'fhir.hospital.internal',
      4,
      `Bearer ${await tok({ purpose_of_use: 'BTG', btg_class: 'code-blue', btg_agent: 'ambient-scribe', btg_activated_at: T0 })}`,
    );
    await send(SCRIBE, 'POST', '/openai/deployments/scribe-gpt/chat/completions', 'contoso-health.openai.azure.com', 5);
    await send(PA, 'POST', '/v2/eligibility', 'api.payer-b-clearinghouse.example', 6);
    await send(PA, 'POST', '/v2/eligibility', 'api.payer-b-clearinghouse.example', 7);
    c.close();
    await s.server.close();
    audit = s.auditFile;
    copyFileSync(audit, path.join(t.dir, 'audit.jsonl'));
    audit = path.join(t.dir, 'audit.jsonl');
    await s.stop();
  });
  afterAll(() => t.remove());

  test('accounting lists every access to one patient in the period, break-glass included', async () => {
    const r = await cli([
      'report',
      'accounting',
      audit,
      '--patient',
      'p-9999',
      '--since',
      new Date((T0 - 3600) * 1000).toISOString(),
      '--format',
      'json',
    ]);
    const rows = JSON.parse(r.out) as Array<Record<string, unknown>>;
    expect(rows).toEqual([
      expect.objectContaining({
        agent: 'ambient-scribe',
        clinician: 'Practitioner/dr-adeyemi',
        interaction: 'search-type',
        resource: 'Observation',
        decision: 'allow',
        breakGlass: 'code-blue',
      }),
    ]);
    const withDenied = JSON.parse(
      (await cli(['report', 'accounting', audit, '--patient', 'p-9999', '--include-denied', '--format', 'json'])).out,
    ) as unknown[];
    expect(withDenied).toHaveLength(2);
    const p1001 = await cli(['report', 'accounting', audit, '--patient', 'p-1001']);
    expect(p1001.out).toMatch(/2 record\(s\)/);
    expect(
      (
        await cli([
          'report',
          'accounting',
          audit,
          '--patient',
          'p-1001',
          '--until',
          new Date((T0 + 90) * 1000).toISOString(),
          '--format',
          'csv',
        ])
      ).out
        .trim()
        .split('\n'),
    ).toHaveLength(2);
  });

  test('breakglass lists each lane access and what it touched', async () => {
    const rows = JSON.parse(
      (await cli(['report', 'breakglass', audit, '--since', '2026-01-01T00:00:00Z', '--format', 'json'])).out,
    ) as Array<Record<string, unknown>>;
    expect(rows).toEqual([
      expect.objectContaining({
        class: 'code-blue',
        clinician: 'Practitioner/dr-adeyemi',
        agent: 'ambient-scribe',
        patients: '["p-9999"]',
        overrode: 'only-the-encounter-patient',
      }),
    ]);
  });

  test('aibom lists every outside endpoint per agent with its BAA status and traffic', async () => {
    const rows = JSON.parse((await cli(['report', 'aibom', audit, '--format', 'json'])).out) as Array<
      Record<string, unknown>
    >;
    expect(rows.map((x) => [x['agent'], x['endpoint'], x['baaStatus'], x['allowed'], x['denied']])).toEqual([
      ['ambient-scribe', 'contoso-health.openai.azure.com:443', 'active-agreement', 1, 0],
      ['prior-auth', 'api.payer-b-clearinghouse.example:443', 'terminated', 0, 2],
    ]);
  });

  test('baa-violations lists denied outside requests', async () => {
    const r = await cli(['report', 'baa-violations', audit, '--format', 'csv']);
    const lines = r.out.trim().split('\n');
    expect(lines[0]).toBe('time,agent,endpoint,baaStatus,vendor,agreementId,registryVersion,requestId');
    expect(lines.slice(1).map((l) => l.split(',').slice(1, 4).join(','))).toEqual([
      'prior-auth,api.payer-b-clearinghouse.example:443,terminated',
      'prior-auth,api.payer-b-clearinghouse.example:443,terminated',
    ]);
  });
});
