/**
 * The PHI access audit record (HIPAA §164.312(b) audit controls): one JSON line per decision. This is the one place
 * patient identifiers are written, by design. Bodies and tokens never are.
 *
 * Format `phiguard.audit/v1`; fields are stable (reports and SIEM parsers depend on them).
 */
import type { RequestAttributesModel } from '../attributes.js';
import type { Decision } from '../decision.js';
import { decisionLabel } from '../edge/index.js';

export const AUDIT_FORMAT = 'phiguard.audit/v1';

export interface DecisionAuditRecord {
  format: typeof AUDIT_FORMAT;
  type: 'decision';
  time: string;
  decisionId: string;
  requestId: string;
  agent: string;
  principal: string;
  /** Verified clinician subject (`sub`), or "". */
  clinician: string;
  authSource: string;
  method: string;
  host: string;
  interaction: string;
  resourceType: string;
  resourceId: string;
  operation: string;
  compartment: string;
  patients: string[];
  patientsUnresolved: string[];
  entries: Array<{ interaction: string; resourceType: string; id: string; patients: string[] }>;
  invalidReason: string;
  decision: 'allow' | 'deny' | 'audit-deny';
  reason: string;
  rule: string;
  mode: string;
  status: number;
  policyVersion: string;
  latencyUs: number;
  /** Break-glass class when a lane decided, else "". */
  breakGlass: string;
}

export function decisionRecord(decisionId: string, d: Decision, a: RequestAttributesModel | undefined, latencyUs: number, time: Date): DecisionAuditRecord {
  const f = a?.fhir;
  return {
    format: AUDIT_FORMAT,
    type: 'decision',
    time: time.toISOString(),
    decisionId,
    requestId: a?.request.id ?? '',
    agent: d.agent,
    principal: a?.source.principal ?? '',
    clinician: a?.auth.subject ?? '',
    authSource: a?.auth.source ?? 'none',
    method: a?.request.method ?? '',
    host: a?.request.host ?? '',
    interaction: f?.interaction ?? '',
    resourceType: f?.resourceType ?? '',
    resourceId: f?.id ?? '',
    operation: f?.operation ?? '',
    compartment: f && f.compartment.type !== '' ? `${f.compartment.type}/${f.compartment.id}` : '',
    patients: f?.patients ?? [],
    patientsUnresolved: f?.patientsUnresolved ?? [],
    entries: (f?.entries ?? []).map((e) => ({ interaction: e.interaction, resourceType: e.resourceType, id: e.id, patients: e.patients })),
    invalidReason: f?.invalidReason ?? '',
    decision: decisionLabel(d),
    reason: d.reason,
    rule: d.rule,
    mode: d.mode,
    status: d.outcome === 'allow' ? 200 : d.status,
    policyVersion: d.policyVersion,
    latencyUs,
    breakGlass: d.lane?.class ?? '',
  };
}
