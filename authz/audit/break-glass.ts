/**
 * Break-glass attestation: one record per access through a lane, in the audit sink. The same access as FHIR R4
 * AuditEvents (IHE BALP, purposeOfEvent BTG or ETREAT) for the EHR's audit repository is audit-event.ts's.
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
