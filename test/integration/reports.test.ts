/**
 * Reports over an audit trail written by the real service (chart reads and a note, reads whose patient is unresolved,
 * a break-glass access and failed lane attempts, covered and uncovered egress), run through the CLI: the header, the
 * unattributed section, replica files merged in time order, gzip, duplicates, corrupt input, the period's field; and
 * the AuditEvents the same service wrote with `--audit-events all`, each validated (R4 validator and BALP checks).
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT } from 'jose';
import type { AuditEvent } from '../../authz/audit/index.js';
import { createCheckClient } from '../../generator/call/index.js';
import { startTestServer } from '../helpers/server.js';
import { tempDir, timelessRegistry } from '../helpers/temp.js';
import { cli } from '../helpers/cli.js';
import { auditEventErrors, claimedProfile } from '../audit/balp-constraints.js';

const ISS = 'https://idp.hospital.example';
const SCRIBE = 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe';
const PA = 'spiffe://cluster.local/ns/prior-auth/sa/pa-bot';
// Relative to the real clock: jose checks the token's exp against it.
const T0 = Math.floor(Date.now() / 60_000) * 60;
const iso = (minutes: number): string => new Date((T0 + minutes * 60) * 1000).toISOString();

interface JsonReport {
  report: string;
  title: string;
  regulation: string;
  patient?: string;
  period: { since: string | null; until: string | null } | null;
  timeField: string | null;
  generated: string;
  sourceFiles: string[];
  recordsRead: number;
  linesSkipped: number;
  duplicatesDropped: number;
  sections: Array<{ id: string; title: string; regulation: string; rows: Array<Record<string, unknown>> }>;
}

const json = async (args: string[]): Promise<JsonReport> => {
  const r = await cli(['report', ...args, '--format', 'json']);
  if (r.code !== 0) throw new Error(`exit ${r.code}: ${r.err}`);
  return JSON.parse(r.out) as JsonReport;
};
const rowsOf = (r: JsonReport, id: string) => r.sections.find((s) => s.id === id)?.rows ?? [];

describe('phiguard report', () => {
  const t = tempDir();
  const audit = path.join(t.dir, 'audit.jsonl');
  const events = path.join(t.dir, 'audit-events.jsonl');
  let lines: string[] = [];

  beforeAll(async () => {
    const pair = await generateKeyPair('ES256', { extractable: true });
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
      auditEventFile: events,
      auditEvents: 'all',
    });
    const c = createCheckClient(s.addr);
    const tok = (extra: Record<string, unknown> = {}) =>
      new SignJWT({ patient: 'p-1001', encounter: 'enc-1', ...extra })
        .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
        .setIssuer(ISS)
        .setAudience('phiguard')
        .setSubject('Practitioner/dr-adeyemi')
        .setExpirationTime(T0 + 3 * 3600)
        .sign(pair.privateKey);
    const send = async (
      principal: string,
      method: string,
      p: string,
      host: string,
      minutes: number,
      auth?: string,
      body?: object,
    ) =>
      c.check({
        attributes: {
          source: { principal, address: { socket_address: { address: '10.8.3.17', port_value: 51234 } } },
          request: {
            time: { seconds: String(T0 + minutes * 60), nanos: 0 },
            http: {
              id: `r-${minutes}`,
              method,
              path: p,
              host,
              scheme: host.includes('.example') || host.includes('azure') ? 'https' : 'http',
              headers: {
                ...(auth ? { authorization: auth } : {}),
                ...(body ? { 'content-type': 'application/fhir+json' } : {}),
              },
              ...(body ? { body: JSON.stringify(body) } : {}),
            },
          },
        },
      });
    const plain = `Bearer ${await tok()}`;
    const btg = { purpose_of_use: 'BTG', btg_class: 'code-blue', btg_agent: 'ambient-scribe', btg_activated_at: T0 };
    const fhir = 'fhir.hospital.internal';
    await send(SCRIBE, 'GET', '/fhir/Encounter?patient=p-1001', fhir, 1, plain);
    await send(SCRIBE, 'GET', '/fhir/Patient/p-1001', fhir, 2, plain);
    await send(SCRIBE, 'GET', '/fhir/Observation?patient=p-9999', fhir, 3, plain); // denied
    await send(
      SCRIBE,
      'GET',
      '/fhir/Observation?patient=p-9999&category=vital-signs',
      fhir,
      4,
      `Bearer ${await tok(btg)}`,
    );
    await send(SCRIBE, 'POST', '/openai/deployments/scribe-gpt/chat/completions', 'contoso-health.openai.azure.com', 5);
    await send(PA, 'POST', '/v2/eligibility', 'api.payer-b-clearinghouse.example', 6);
    await send(PA, 'POST', '/v2/eligibility', 'api.payer-b-clearinghouse.example', 7);
    // Reads by id whose patient is on the server: the encounter (allowed, unresolved), another Observation (denied).
    await send(SCRIBE, 'GET', '/fhir/Encounter/enc-1', fhir, 8, plain);
    await send(SCRIBE, 'GET', '/fhir/Observation/obs-77', fhir, 9, plain);
    // Failed lane attempts: expired, another class, another agent.
    const search = '/fhir/Observation?patient=p-9999';
    await send(SCRIBE, 'GET', search, fhir, 10, `Bearer ${await tok({ ...btg, btg_activated_at: T0 - 7200 })}`);
    await send(SCRIBE, 'GET', search, fhir, 11, `Bearer ${await tok({ ...btg, btg_class: 'ed-triage' })}`);
    await send(SCRIBE, 'GET', search, fhir, 12, `Bearer ${await tok({ ...btg, btg_agent: 'cds-sepsis' })}`);
    // A vendor without a BAA that no policy rule allows: the rule denies first, the egress record says uncovered.
    await send(SCRIBE, 'POST', '/v1/chat/completions', 'api.unlisted-llm.example', 13);
    // The draft note for the context patient.
    await send(SCRIBE, 'POST', '/fhir/DocumentReference', fhir, 14, plain, {
      resourceType: 'DocumentReference',
      status: 'current',
      subject: { reference: 'Patient/p-1001' },
      content: [{ attachment: { contentType: 'text/plain' } }],
    });
    c.close();
    await s.server.close();
    writeFileSync(audit, readFileSync(s.auditFile));
    lines = readFileSync(audit, 'utf8').trim().split('\n');
    await s.stop();
  });
  afterAll(() => t.remove());

  const decision = (requestId: string) =>
    lines
      .map((l) => JSON.parse(l) as Record<string, unknown>)
      .find((r) => r['type'] === 'decision' && r['requestId'] === requestId);

  test('accounting: a labelled access report with its header, the accesses, and the unattributed ones', async () => {
    const r = await json(['accounting', audit, '--patient', 'p-9999', '--since', iso(-60)]);
    expect(r).toMatchObject({
      report: 'accounting',
      title: 'access report for patient p-9999',
      patient: 'p-9999',
      period: { since: iso(-60), until: null },
      timeField: expect.stringMatching(/^requestTime/),
      sourceFiles: [audit],
      recordsRead: lines.length,
      linesSkipped: 0,
      duplicatesDropped: 0,
    });
    expect(r.regulation).toMatch(/13405\(c\).*76 FR 31426.*excludes treatment, payment and health care operations/);
    expect(Date.parse(r.generated)).toBeGreaterThan(Date.now() - 60_000);
    expect(rowsOf(r, 'accesses')).toEqual([
      expect.objectContaining({
        time: iso(4),
        agent: 'ambient-scribe',
        resource: 'Observation',
        breakGlass: 'code-blue',
      }),
    ]);
    // The read by id of the encounter names no patient: it is in no patient's rows, and in this section.
    expect(rowsOf(r, 'unattributed')).toEqual([
      expect.objectContaining({
        time: iso(8),
        resource: 'Encounter/enc-1',
        decision: 'allow',
        patientsUnresolved: 'instance-of:Encounter',
      }),
    ]);
    const denied = await json([
      'accounting',
      audit,
      '--patient',
      'p-9999',
      '--include-denied',
      '--agent',
      'ambient-scribe',
    ]);
    expect(rowsOf(denied, 'accesses').map((x) => x['time'])).toEqual([iso(3), iso(4), iso(10), iso(11), iso(12)]);
    expect(rowsOf(denied, 'unattributed').map((x) => x['resource'])).toEqual(['Encounter/enc-1', 'Observation/obs-77']);
    expect(
      rowsOf(await json(['accounting', audit, '--patient', 'p-9999', '--agent', 'prior-auth']), 'unattributed'),
    ).toEqual([]);
    // The table says the same, header first.
    const table = await cli(['report', 'accounting', audit, '--patient', 'p-1001']);
    expect(table.out).toMatch(/^report: +accounting: access report for patient p-1001\n/);
    expect(table.out).toMatch(/\nrecords read: +\d+\nlines skipped: +0\nduplicates dropped: +0\n/);
    expect(table.out).toMatch(/== accesses to patient p-1001\n.*\n(.*\n){2}(.*\n){3}3 record\(s\)\n/);
    expect(table.out).toMatch(/== accesses that could not be attributed to a patient/);
  });

  test('--since/--until and the displayed time are the request time', async () => {
    const r = await json(['accounting', audit, '--patient', 'p-1001', '--since', iso(1), '--until', iso(2)]);
    const rows = rowsOf(r, 'accesses');
    expect(rows.map((x) => x['time'])).toEqual([iso(1), iso(2)]);
    for (const row of rows) expect(row['time']).toBe(decision(String(row['requestId']))?.['requestTime']);
    // The decision time (`time`) is the real clock, not the Envoy request time the rows show.
    expect(decision('r-1')?.['time']).not.toBe(iso(1));
  });

  test('replica files (one gzipped) are merged in time order; a file given twice counts each decision once', async () => {
    const a = path.join(t.dir, 'replica-a.jsonl');
    const b = path.join(t.dir, 'replica-b.jsonl.gz');
    // Alternate lines: each replica holds every other record, so a concatenation would be out of order.
    writeFileSync(a, lines.filter((_l, i) => i % 2 === 1).join('\n') + '\n');
    writeFileSync(b, gzipSync(lines.filter((_l, i) => i % 2 === 0).join('\n') + '\n'));
    const one = await json(['accounting', audit, '--patient', 'p-1001', '--include-denied']);
    const merged = await json(['accounting', a, b, a, '--patient', 'p-1001', '--include-denied']);
    expect(merged.sections).toEqual(one.sections);
    expect(rowsOf(merged, 'accesses').map((x) => x['time'])).toEqual([iso(1), iso(2), iso(14)]);
    const aSelected = rowsOf(one, 'accesses')
      .concat(rowsOf(one, 'unattributed'))
      .filter((x) => readFileSync(a, 'utf8').includes(`"decisionId":"${String(x['decisionId'])}"`)).length;
    expect(merged).toMatchObject({
      sourceFiles: [a, b, a],
      recordsRead: lines.length + Math.floor(lines.length / 2),
      duplicatesDropped: aSelected,
    });
    expect(aSelected).toBeGreaterThan(0);
    // Without the patient's own filter: the gzipped replica alone is read as records.
    expect((await json(['aibom', b])).recordsRead).toBe(Math.ceil(lines.length / 2));
  });

  test('input that is not an audit trail, or a truncated line, is an error naming the file and line', async () => {
    const readme = await cli(['report', 'accounting', 'README.md', '--patient', 'p-1001']);
    expect(readme).toMatchObject({ code: 2, out: '' });
    expect(readme.err).toMatch(/README\.md:1: not a phiguard\.audit\/v1 record/);
    const skipped = await json(['accounting', 'README.md', '--patient', 'p-1001', '--skip-corrupt']);
    expect(skipped).toMatchObject({
      recordsRead: 0,
      linesSkipped: readFileSync('README.md', 'utf8')
        .split('\n')
        .filter((l) => l !== '').length,
    });

    const torn = path.join(t.dir, 'torn.jsonl');
    const at = lines.findIndex((l) => l.includes('"requestId":"r-2"') && l.includes('"type":"decision"'));
    writeFileSync(torn, lines.map((l, i) => (i === at ? l.slice(0, 200) : l)).join('\n') + '\n');
    const err = await cli(['report', 'accounting', torn, '--patient', 'p-1001']);
    expect(err.code).toBe(2);
    expect(err.err).toContain(`${torn}:${at + 1}: not a phiguard.audit/v1 record`);
    // A torn line the report does not select is found too.
    expect((await cli(['report', 'baa-violations', torn])).err).toContain(`${torn}:${at + 1}:`);
    const ok = await cli(['report', 'accounting', torn, '--patient', 'p-1001', '--skip-corrupt', '--format', 'json']);
    expect(ok.code).toBe(0);
    expect(ok.err).toContain(`${torn}: 1 line(s) skipped (not audit records), first at line(s) ${at + 1}`);
    const r = JSON.parse(ok.out) as JsonReport;
    expect(r).toMatchObject({ recordsRead: lines.length - 1, linesSkipped: 1 });
    expect(rowsOf(r, 'accesses').map((x) => x['time'])).toEqual([iso(1), iso(14)]);
    // A truncated gzip stream is an error too.
    const gz = gzipSync(lines.join('\n') + '\n');
    const cut = path.join(t.dir, 'cut.jsonl.gz');
    writeFileSync(cut, gz.subarray(0, gz.length - 20));
    const damaged = await cli(['report', 'aibom', cut]);
    expect(damaged.code).toBe(2);
    expect(damaged.err).toMatch(/cut\.jsonl\.gz:\d+: gzip stream damaged or truncated/);
  });

  test('breakglass lists each lane access and each failed lane attempt', async () => {
    const r = await json(['breakglass', audit, '--since', '1d']);
    expect(r.regulation).toMatch(/164\.312\(a\)\(2\)\(ii\)/);
    expect(rowsOf(r, 'accesses')).toEqual([
      expect.objectContaining({
        class: 'code-blue',
        clinician: 'Practitioner/dr-adeyemi',
        agent: 'ambient-scribe',
        patients: '["p-9999"]',
        overrode: 'only-the-encounter-patient',
      }),
    ]);
    expect(rowsOf(r, 'failed').map((x) => [x['requestId'], x['attempts'], x['reason']])).toEqual([
      ['r-10', 'code-blue:expired', 'break-glass-expired'],
      ['r-11', 'code-blue:activation-not-met', 'rule-deny'],
      ['r-12', 'code-blue:activation-not-met', 'rule-deny'],
    ]);
  });

  test('aibom lists every outside endpoint per agent with its BAA status and traffic', async () => {
    const rows = rowsOf(await json(['aibom', audit]), 'endpoints');
    expect(rows.map((x) => [x['agent'], x['endpoint'], x['baaStatus'], x['allowed'], x['denied']])).toEqual([
      ['ambient-scribe', 'api.unlisted-llm.example:443', expect.any(String), 0, 1],
      ['ambient-scribe', 'contoso-health.openai.azure.com:443', 'active-agreement', 1, 0],
      ['prior-auth', 'api.payer-b-clearinghouse.example:443', 'terminated', 0, 2],
    ]);
  });

  test('baa-violations lists every uncovered outside attempt, whichever rule denied it', async () => {
    const r = await json(['baa-violations', audit]);
    expect(
      rowsOf(r, 'attempts').map((x) => [x['time'], x['agent'], x['endpoint'], x['baaStatus'], x['deniedBy']]),
    ).toEqual([
      [iso(6), 'prior-auth', 'api.payer-b-clearinghouse.example:443', 'terminated', 'baa-registry'],
      [iso(7), 'prior-auth', 'api.payer-b-clearinghouse.example:443', 'terminated', 'baa-registry'],
      [
        iso(13),
        'ambient-scribe',
        'api.unlisted-llm.example:443',
        expect.any(String),
        expect.not.stringMatching(/^baa-registry$/),
      ],
    ]);
    const csv = (await cli(['report', 'baa-violations', audit, '--format', 'csv'])).out.split('\n');
    expect(csv.filter((l) => l.startsWith('# '))).toEqual(
      expect.arrayContaining([
        '# report: baa-violations: outside-egress attempts without an active business associate agreement',
        '# lines skipped: 0',
      ]),
    );
    expect(csv.find((l) => !l.startsWith('#'))).toBe(
      'section,time,agent,endpoint,baaStatus,vendor,agreementId,registryVersion,decision,deniedBy,reason,requestId',
    );
  });

  test('--audit-events all: every decision as IHE BALP AuditEvents, each valid (R4 validator + BALP checks)', () => {
    const evs = readFileSync(events, 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as AuditEvent);
    const decisions = lines.filter((l) => l.includes('"type":"decision"')).length;
    expect(evs.length).toBeGreaterThanOrEqual(decisions);
    const errors = evs.map((e, i) => [i, auditEventErrors(e)] as const).filter(([, e]) => e.length > 0);
    expect(errors).toEqual([]);
    const profiles = new Set(
      evs.map((e) => {
        const p = claimedProfile(e);
        return p ? `${p.patient ? 'Patient' : ''}${p.base}` : 'none';
      }),
    );
    expect([...profiles].sort()).toEqual(['PatientCreate', 'PatientQuery', 'PatientRead', 'Read', 'none']);
    const bg = evs.find((e) => e.purposeOfEvent !== undefined);
    expect(bg).toMatchObject({
      meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientQuery'] },
      purposeOfEvent: [{ coding: [{ code: 'BTG' }] }],
      entity: expect.arrayContaining([expect.objectContaining({ what: { reference: 'Patient/p-9999' } })]),
    });
    // The client agent is the caller's connection: its address and SPIFFE id.
    expect(bg?.agent).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          network: { address: '10.8.3.17', type: '2' },
          who: expect.objectContaining({ identifier: { system: 'urn:ietf:rfc:3986', value: SCRIBE } }),
        }),
      ]),
    );
  });

  test('serve takes --audit-events all|break-glass', async () => {
    const serve = (...a: string[]) => cli(['serve', '--policies', 'examples/policies', '--print-config', ...a]);
    expect(JSON.parse((await serve('--audit-events', 'all')).out)).toMatchObject({ auditEvents: 'all' });
    expect(JSON.parse((await serve()).out)).toMatchObject({ auditEvents: 'break-glass' });
    expect((await serve('--audit-events', 'some')).code).toBe(2);
  });
});
