/**
 * The AuditEvents of a decision (authz/audit/audit-event.ts), case by case from fixtures/audit-event-cases.yaml:
 * the BALP profile each claims by interaction, one per patient, and every one valid against the R4 AuditEvent
 * StructureDefinition (a real validator, @medplum/core) and the BALP constraints (balp-constraints.ts).
 */
import { readFileSync } from 'node:fs';
import { describe, expect, test } from '@jest/globals';
import { parse } from 'yaml';
import { auditEvents, type AuditEvent } from '../../authz/audit/index.js';
import type { DecisionAuditRecord } from '../../authz/model/index.js';
import { auditEventErrors, balpErrors, claimedProfile, r4Errors } from './balp-constraints.js';

interface Case {
  name: string;
  record: Partial<DecisionAuditRecord>;
  path: string;
  sourceAddress?: string;
  expect: Array<{
    profile?: string;
    action: string;
    patient?: string;
    outcome?: string;
    data?: string;
    dataType?: string;
    query?: string;
  }>;
}

const BASE: DecisionAuditRecord = {
  format: 'phiguard.audit/v1',
  type: 'decision',
  time: '2026-08-01T10:00:00.120Z',
  requestTime: '2026-08-01T10:00:00.100Z',
  decisionId: 'd-1',
  requestId: 'req-1',
  agent: 'ambient-scribe',
  principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
  clinician: 'Practitioner/dr-adeyemi',
  authSource: 'jwks',
  method: 'GET',
  host: 'fhir.hospital.internal',
  interaction: 'read',
  resourceType: 'Patient',
  resourceId: 'p-1',
  operation: '',
  compartment: '',
  patients: ['p-1'],
  patientsUnresolved: [],
  entries: [],
  invalidReason: '',
  decision: 'allow',
  reason: 'rule-allow',
  rule: 'read-chart',
  mode: 'enforce',
  status: 200,
  policyVersion: 'abc123',
  latencyUs: 150,
  breakGlass: '',
  egress: null,
  exception: '',
  unresolvedAllowed: [],
  breakGlassAttempts: [],
  traceId: '',
  spanId: '',
  decidedBy: 'service',
  reportedBy: '',
};

const cases = parse(readFileSync(new URL('./fixtures/audit-event-cases.yaml', import.meta.url), 'utf8')) as Case[];

const dataEntity = (e: AuditEvent) => e.entity.find((x) => x.type.code === '2');

describe('AuditEvents of a decision', () => {
  test.each(cases.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const events = auditEvents({
      record: { ...BASE, ...c.record },
      path: c.path,
      sourceAddress: c.sourceAddress ?? '10.0.3.7',
    });
    expect(events).toHaveLength(c.expect.length);
    events.forEach((e, i) => {
      const want = c.expect[i];
      if (want === undefined) throw new Error('unreachable');
      expect(auditEventErrors(e)).toEqual([]);
      const claimed = claimedProfile(e);
      expect(claimed ? `${claimed.patient ? 'Patient' : ''}${claimed.base}` : undefined).toBe(want.profile);
      expect(e.action).toBe(want.action);
      expect(e.outcome).toBe(want.outcome ?? '0');
      const patient = e.entity.find((x) => x.type.code === '1');
      expect(patient?.what?.reference).toBe(want.patient !== undefined ? `Patient/${want.patient}` : undefined);
      if (want.data !== undefined) expect(dataEntity(e)?.what?.reference).toBe(want.data);
      if (want.dataType !== undefined) {
        expect(dataEntity(e)?.what).toMatchObject({ type: want.dataType });
        expect(dataEntity(e)?.what?.reference).toBeUndefined();
      }
      if (want.query !== undefined) {
        expect(Buffer.from(dataEntity(e)?.query ?? '', 'base64').toString('utf8')).toBe(want.query);
      }
    });
  });

  test('a break-glass access carries its purpose of use on the event and the user', () => {
    const [e] = auditEvents({
      record: {
        ...BASE,
        interaction: 'search-type',
        resourceType: 'Observation',
        patients: ['p-9'],
        breakGlass: 'code-blue',
      },
      path: '/fhir/Observation?patient=p-9',
      sourceAddress: '10.0.3.7',
      purposeOfUse: 'BTG',
    });
    expect(e?.purposeOfEvent).toEqual([
      { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: 'BTG' }] },
    ]);
    expect(e?.agent.find((a) => a.requestor)?.purposeOfUse).toEqual(e?.purposeOfEvent);
    expect(e !== undefined && auditEventErrors(e)).toEqual([]);
  });

  // The checks themselves can fail: the shape the issue found (PatientRead on a search, a reference without an id,
  // no client/server agents) is rejected by them, and a malformed resource by the R4 validator.
  test('the checks reject the old break-glass shape and an invalid resource', () => {
    const [good] = auditEvents({
      record: { ...BASE, interaction: 'search-type', resourceType: 'Condition' },
      path: '/fhir/Condition?patient=p-1',
      sourceAddress: '10.0.3.7',
    });
    if (good === undefined) throw new Error('no event');
    const bad: AuditEvent = {
      ...good,
      meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead'] },
      agent: good.agent.filter((a) => a.requestor),
      entity: [...good.entity, { what: { reference: 'Condition' }, type: { system: 'x', code: 'y' } }],
    };
    expect(balpErrors(bad)).toEqual(
      expect.arrayContaining([
        'entity.what.reference Condition has no id',
        'action E, profile fixes R',
        "subtype: 0 codes from the profile's value set, needs exactly 1",
        'agent[client] (110152): 0, needs 1',
      ]),
    );
    expect(r4Errors({ ...good, recorded: '2026-08-01', agent: [{ ...good.agent[0], bogus: 1 }] })).toEqual(
      expect.arrayContaining([expect.stringMatching(/recorded/), expect.stringMatching(/bogus/)]),
    );
    expect(r4Errors({ ...good, type: undefined })).toEqual([expect.stringMatching(/AuditEvent.type/)]);
  });
});
