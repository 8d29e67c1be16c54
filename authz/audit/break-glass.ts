/**
 * Break-glass attestation: one record per access through a lane, in the audit sink, and optionally the same access
 * as a FHIR R4 AuditEvent in the IHE Basic Audit Log Patterns (BALP) shape, purposeOfEvent BTG or ETREAT, for the
 * EHR's audit repository.
 */
import type { Decision, LaneUse, RequestAttributesModel } from '../model/index.js';
import { AUDIT_FORMAT } from './record.js';

export interface BreakGlassAttestation {
  format: typeof AUDIT_FORMAT;
  type: 'break-glass-attestation';
  time: string;
  decisionId: string;
  requestId: string;
  class: string;
  purposeOfUse: 'BTG' | 'ETREAT';
  clinician: string;
  agent: string;
  principal: string;
  activatedAt: string;
  expiresAt: string;
  overrode: LaneUse['overrode'];
  interaction: string;
  resources: string[];
  patients: string[];
}

export function breakGlassAttestation(
  decisionId: string,
  d: Decision & { lane: LaneUse },
  a: RequestAttributesModel,
  time: Date,
): BreakGlassAttestation {
  const f = a.fhir;
  const resources = [
    ...(f.resourceType !== '' ? [`${f.resourceType}${f.id !== '' ? `/${f.id}` : ''}`] : []),
    ...f.entries.map((e) => `${e.resourceType}${e.id !== '' ? `/${e.id}` : ''}`),
  ];
  return {
    format: AUDIT_FORMAT,
    type: 'break-glass-attestation',
    time: time.toISOString(),
    decisionId,
    requestId: a.request.id,
    class: d.lane.class,
    purposeOfUse: d.lane.purposeOfUse,
    clinician: a.auth.subject,
    agent: d.agent,
    principal: a.source.principal,
    activatedAt: d.lane.activatedAt,
    expiresAt: d.lane.expiresAt,
    overrode: d.lane.overrode,
    interaction: f.interaction,
    resources,
    patients: f.patients,
  };
}

const ACTION: Record<string, string> = {
  create: 'C',
  read: 'R',
  vread: 'R',
  'search-type': 'E',
  'search-system': 'E',
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  update: 'U',
  patch: 'U',
  delete: 'D',
  operation: 'E',
  batch: 'E',
  transaction: 'E',
  capabilities: 'R',
};

/** The attestation as a FHIR R4 AuditEvent (IHE BALP "RESTful activity", break-glass purpose of use). */
export function toAuditEvent(att: BreakGlassAttestation): Record<string, unknown> {
  const purpose = [
    { coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: att.purposeOfUse }] },
  ];
  return {
    resourceType: 'AuditEvent',
    meta: { profile: ['https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.PatientRead'] },
    type: {
      system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
      code: 'rest',
      display: 'Restful Operation',
    },
    subtype:
      att.interaction !== '' ? [{ system: 'http://hl7.org/fhir/restful-interaction', code: att.interaction }] : [],
    action: ACTION[att.interaction] ?? 'E',
    recorded: att.time,
    outcome: '0',
    purposeOfEvent: purpose,
    agent: [
      {
        type: {
          coding: [
            {
              system: 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType',
              code: 'IRCP',
              display: 'information recipient',
            },
          ],
        },
        who: { identifier: { value: att.clinician } },
        requestor: true,
        purposeOfUse: purpose,
      },
      {
        type: {
          coding: [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: '110150', display: 'Application' }],
        },
        who: { identifier: { system: 'urn:ietf:rfc:3986', value: att.principal }, display: att.agent },
        requestor: false,
      },
    ],
    source: {
      observer: { display: 'phiguard' },
      type: [
        {
          system: 'http://terminology.hl7.org/CodeSystem/security-source-type',
          code: '4',
          display: 'Application Server',
        },
      ],
    },
    entity: [
      ...att.patients.map((p) => ({
        what: { reference: `Patient/${p}` },
        type: { system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type', code: '1', display: 'Person' },
        role: { system: 'http://terminology.hl7.org/CodeSystem/object-role', code: '1', display: 'Patient' },
      })),
      ...att.resources.map((r) => ({
        what: { reference: r },
        type: {
          system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
          code: '2',
          display: 'System Object',
        },
      })),
      {
        what: { identifier: { value: att.requestId } },
        type: {
          system: 'http://terminology.hl7.org/CodeSystem/audit-entity-type',
          code: '2',
          display: 'System Object',
        },
        description: `break-glass class ${att.class}, window ${att.activatedAt}..${att.expiresAt}, decision ${att.decisionId}`,
      },
    ],
  };
}
