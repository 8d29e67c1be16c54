/**
 * The PHI access audit record (HIPAA §164.312(b) audit controls): one JSON line per decision. This is the one place
 * patient identifiers are written, by design. Bodies and tokens never are.
 *
 * Format `phiguard.audit/v1`; fields are stable (reports and SIEM parsers depend on them).
 */
import type { RequestAttributesModel } from '../model/attributes.js';
import type { Decision } from '../model/decision.js';
import { decisionLabel } from '../transport/index.js';

export const AUDIT_FORMAT = 'phiguard.audit/v1';

export interface DecisionAuditRecord {
  format: typeof AUDIT_FORMAT;
  type: 'decision';
  /** When phiguard decided. */
  time: string;
  /** When the request was made (Envoy's attributes.request.time, else the time of receipt): the access time. */
  requestTime: string;
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
  /** Outside egress: host, port, BAA coverage at contact and the registry version; null for internal requests. */
  egress: { host: string; port: number; covered: boolean; reason: string; vendor: string; agreementId: string; registryVersion: string } | null;
  /** Hard-deny exception applied (e.g. eks-pod-identity), else "". */
  exception: string;
}

/** The first time a replica sees an agent contact an outside endpoint (AI bill of materials). */
export interface AiBomRecord {
  format: typeof AUDIT_FORMAT;
  type: 'aibom-first-contact';
  time: string;
  agent: string;
  principal: string;
  endpoint: string;
  covered: boolean;
  baaStatus: string;
  vendor: string;
  agreementId: string;
  registryVersion: string;
  decision: string;
}

const NO_ENTRIES: DecisionAuditRecord['entries'] = [];

export function decisionRecord(decisionId: string, d: Decision, a: RequestAttributesModel | undefined, latencyUs: number, time: Date): DecisionAuditRecord {
  const f = a?.fhir;
  return {
    format: AUDIT_FORMAT,
    type: 'decision',
    time: time.toISOString(),
    requestTime: (a?.now ?? time).toISOString(),
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
    entries: f && f.entries.length > 0 ? f.entries.map((e) => ({ interaction: e.interaction, resourceType: e.resourceType, id: e.id, patients: e.patients })) : NO_ENTRIES,
    invalidReason: f?.invalidReason ?? '',
    decision: decisionLabel(d),
    reason: d.reason,
    rule: d.rule,
    mode: d.mode,
    status: d.outcome === 'allow' ? 200 : d.status,
    policyVersion: d.policyVersion,
    latencyUs,
    breakGlass: d.lane?.class ?? '',
    egress: d.egress ?? null,
    exception: d.exception ?? '',
  };
}
