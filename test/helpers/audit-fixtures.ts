/** Audit fixtures shared by the audit line and report tests. */
import {
  denyDecision,
  emptyFhirAttributes,
  type Decision,
  type RequestAttributesModel,
} from '../../authz/model/index.js';

/** When the fixture decisions are written. */
export const auditTime = new Date('2026-11-25T10:00:00.123Z');
/** The default rule's deny, with nothing else set. */
export const bareDeny = denyDecision({ rule: 'default-deny', reason: 'no-rule-matched', message: 'm', status: 451 });
/** An allow decided by a break-glass lane, to an outside host, with a hard-deny exception. */
export const laneAllow: Decision = {
  outcome: 'allow',
  verdict: 'allow',
  mode: 'enforce',
  agent: 'ambient-scribe',
  rule: 'r1',
  reason: 'rule-allow',
  status: 0,
  message: '',
  policyVersion: 'sha256:abc',
  trace: [],
  exception: 'eks-pod-identity',
  unresolvedAllowed: ['body-incomplete'],
  lane: {
    class: 'code-blue',
    purposeOfUse: 'BTG',
    activatedAt: auditTime.toISOString(),
    expiresAt: auditTime.toISOString(),
    overrode: { rule: 'x', reason: 'rule-deny' },
  },
  egress: {
    host: 'api.example.com',
    port: 443,
    covered: false,
    reason: 'agreement-expired',
    vendor: 'Vendor',
    agreementId: 'BAA-1',
    registryVersion: 'sha256:1',
  },
};

/** A Bundle request with every field set, built by hand (independent of the FHIR parser). */
export const bundleAttributes: RequestAttributesModel = {
  request: {
    method: 'POST',
    path: '/fhir',
    query: '',
    host: 'fhir.hospital.internal',
    scheme: 'https',
    headers: new Map([['traceparent', '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01']]),
    id: 'req-1',
    size: 0n,
  },
  source: {
    principal: 'spiffe://cluster.local/ns/scribe/sa/ambient-scribe',
    trustDomain: 'cluster.local',
    namespace: 'scribe',
    serviceAccount: 'ambient-scribe',
    address: '',
  },
  destination: { address: '', port: 0n, principal: '' },
  agent: { name: 'ambient-scribe', tier: 'live', mode: 'enforce' },
  fhir: {
    ...emptyFhirAttributes(),
    isFhir: true,
    interaction: 'transaction',
    resourceType: 'Bundle',
    id: 'b1',
    operation: '$x',
    compartment: { type: 'Patient', id: 'p-1' },
    patients: ['p-1', 'p-2'],
    patientsUnresolved: ['body-incomplete'],
    entries: [
      {
        method: 'POST',
        interaction: 'create',
        resourceType: 'Observation',
        id: '',
        operation: '',
        patients: ['p-1'],
        patientsUnresolved: [],
        references: [],
      },
      {
        method: 'GET',
        interaction: 'read',
        resourceType: 'Patient',
        id: 'p-2',
        operation: '',
        patients: [],
        patientsUnresolved: [],
        references: [],
      },
    ],
  },
  claims: new Map(),
  auth: { source: 'jwks', subject: 'Practitioner/dr-a', issuer: 'x' },
  now: new Date('2026-11-25T09:59:59.999Z'),
};
