/**
 * Decisions as FHIR R4 AuditEvent resources in the IHE Basic Audit Log Patterns (BALP, ITI TF-1:52 and the profiles
 * of https://profiles.ihe.net/ITI/BALP), for the EHR's audit repository (`serve --audit-event-file`).
 *
 * One decision gives one AuditEvent per patient it touches (BALP 1:52.4.1.6 "Patient as a Subject": "Where an
 * activity impacts more than one Patient/Subject, multiple AuditEvent resources should be recorded, one for each"),
 * and one per entry of a batch or transaction Bundle, each entry by its own interaction. The profile follows the
 * interaction:
 *
 * | interaction          | profile (patient / none)                | action | client / server agent type |
 * |----------------------|-----------------------------------------|--------|----------------------------|
 * | read, vread          | IHE.BasicAudit.PatientRead / .Read      | R      | DCM 110152 / DCM 110153    |
 * | search-type, -system | IHE.BasicAudit.PatientQuery / .Query    | E      | DCM 110153 / DCM 110152    |
 * | create               | IHE.BasicAudit.PatientCreate / .Create  | C      | DCM 110153 / DCM 110152    |
 * | update, patch        | IHE.BasicAudit.PatientUpdate / .Update  | U      | DCM 110153 / DCM 110152    |
 * | delete               | IHE.BasicAudit.PatientDelete / .Delete  | D      | DCM 110150 / custodian     |
 *
 * The client and server agent types are BALP's (the DICOM Source/Destination Role ID convention is inverted for a
 * read, as the Read profile fixes it). Other interactions (history, $operations, capabilities) and outside-egress
 * requests have no BALP profile: their AuditEvent has the same shape and claims no profile. A denied request did not
 * happen: BALP fixes `outcome` to 0 (Success) in every profile ("failures are recorded differently"), so a deny is
 * recorded with outcome 4 (Minor failure), the reason in `outcomeDesc`, and no profile claimed.
 *
 * What phiguard cannot know, it does not invent (BALP 1:52.4.1.5 "Best Effort"): a create's resource has no id until
 * the FHIR server assigns one, so its data entity names the type and the request (`what.type`, `what.display`), never
 * a reference without an id; a profile whose required elements are unknown (no peer address or principal for the
 * client's `network`, no `:authority` for the server's) is not claimed.
 */
import type { DecisionAuditRecord } from '../model/index.js';

export interface Coding {
  system: string;
  code: string;
  display?: string;
}
export interface CodeableConcept {
  coding: Coding[];
}
export interface Reference {
  reference?: string;
  type?: string;
  identifier?: { system?: string; value: string };
  display?: string;
}
export interface AuditEventAgent {
  type: CodeableConcept;
  who: Reference;
  requestor: boolean;
  network?: { address: string; type: '1' | '2' | '5' };
  purposeOfUse?: CodeableConcept[];
}
export interface AuditEventEntity {
  what?: Reference;
  type: Coding;
  role?: Coding;
  description?: string;
  query?: string;
}
/** The subset of the R4 AuditEvent (http://hl7.org/fhir/R4/auditevent.html) phiguard writes. */
export interface AuditEvent {
  resourceType: 'AuditEvent';
  meta?: { profile: string[] };
  type: Coding;
  subtype?: Coding[];
  action: 'C' | 'R' | 'U' | 'D' | 'E';
  period: { start: string; end: string };
  recorded: string;
  outcome: '0' | '4';
  outcomeDesc?: string;
  purposeOfEvent?: CodeableConcept[];
  agent: AuditEventAgent[];
  source: { site?: string; observer: Reference; type: Coding[] };
  entity: AuditEventEntity[];
}

/** What a decision's AuditEvents are built from: its audit record and what the record does not carry. */
export interface AuditEventInput {
  record: DecisionAuditRecord;
  /** The request's path with its query string (BALP 1:52.4.1.4: a query is recorded as requested, base64). */
  path: string;
  /** The caller's peer IP address, or "" (the client agent's `network`). */
  sourceAddress: string;
  /** The purpose of use of a break-glass lane that decided (v3-ActReason BTG or ETREAT). */
  purposeOfUse?: 'BTG' | 'ETREAT';
}

const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';
const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PARTICIPATION = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const INTERACTION = 'http://hl7.org/fhir/restful-interaction';
/** BALP's own entity type for the X-Request-Id (CodeSystem BasicAuditEntityType). */
export const BALP_ENTITY_TYPE = 'https://profiles.ihe.net/ITI/BALP/CodeSystem/BasicAuditEntityType';

type Kind = 'read' | 'query' | 'create' | 'update' | 'delete' | 'other';

const KIND: Readonly<Record<string, Kind>> = {
  read: 'read',
  vread: 'read',
  'search-type': 'query',
  'search-system': 'query',
  create: 'create',
  update: 'update',
  patch: 'update',
  delete: 'delete',
};
const ACTION: Readonly<Record<Kind, AuditEvent['action']>> = {
  read: 'R',
  query: 'E',
  create: 'C',
  update: 'U',
  delete: 'D',
  other: 'E',
};
/** The profile of each kind, without and with a patient subject. */
const PROFILE: Readonly<Record<Exclude<Kind, 'other'>, readonly [string, string]>> = {
  read: ['Read', 'PatientRead'],
  query: ['Query', 'PatientQuery'],
  create: ['Create', 'PatientCreate'],
  update: ['Update', 'PatientUpdate'],
  delete: ['Delete', 'PatientDelete'],
};
/** Actions of the interactions without a BALP profile (R4 AuditEvent.action: C R U D E). */
const OTHER_ACTION: Readonly<Record<string, AuditEvent['action']>> = {
  'history-instance': 'R',
  'history-type': 'R',
  'history-system': 'R',
  capabilities: 'R',
};

const dcm = (code: string, display: string): Coding => ({ system: DCM, code, display });
const SOURCE_ROLE = dcm('110153', 'Source Role ID');
const DESTINATION_ROLE = dcm('110152', 'Destination Role ID');
/** Client and server agent types per kind (BALP profiles, agent[client].type and agent[server].type). */
const ROLES: Readonly<Record<Kind, readonly [Coding, Coding]>> = {
  read: [DESTINATION_ROLE, SOURCE_ROLE],
  query: [SOURCE_ROLE, DESTINATION_ROLE],
  create: [SOURCE_ROLE, DESTINATION_ROLE],
  update: [SOURCE_ROLE, DESTINATION_ROLE],
  delete: [
    dcm('110150', 'Application'),
    {
      system: 'http://terminology.hl7.org/CodeSystem/provenance-participant-type',
      code: 'custodian',
      display: 'Custodian',
    },
  ],
  other: [SOURCE_ROLE, DESTINATION_ROLE],
};
/**
 * The user's agent type: information recipient for reads and queries (BALP Read/Query agent[user]), author for
 * writes (the DataSources value set of Create/Update/Delete: the verified clinician on whose token the write is made).
 */
const userType = (k: Kind): Coding =>
  k === 'create' || k === 'update' || k === 'delete'
    ? { system: PARTICIPATION, code: 'AUT', display: 'author (originator)' }
    : { system: PARTICIPATION, code: 'IRCP', display: 'information recipient' };

/** One resource an event is about: the request's, or one Bundle entry's. */
interface Target {
  interaction: string;
  resourceType: string;
  id: string;
  patients: readonly string[];
}

function targets(r: DecisionAuditRecord): Target[] {
  if ((r.interaction === 'batch' || r.interaction === 'transaction') && r.entries.length > 0) {
    return r.entries.map((e) => ({
      interaction: e.interaction,
      resourceType: e.resourceType,
      id: e.id,
      patients: e.patients,
    }));
  }
  return [{ interaction: r.interaction, resourceType: r.resourceType, id: r.resourceId, patients: r.patients }];
}

/** The data entity's `what`: a reference with an id, or for a resource without one, its type and why. */
function dataWhat(t: Target, r: DecisionAuditRecord): Reference | undefined {
  if (t.resourceType === '') {
    if (r.egress !== null) return { display: `outside endpoint ${r.egress.host}:${String(r.egress.port)}` };
    return r.host !== '' ? { display: `${r.method} ${r.host}` } : undefined;
  }
  if (t.id !== '') return { reference: `${t.resourceType}/${t.id}` };
  if (t.interaction === 'create') {
    return { type: t.resourceType, display: `new ${t.resourceType} (id assigned by the FHIR server)` };
  }
  return { type: t.resourceType, display: `${t.resourceType} (${t.interaction || 'request'} without a logical id)` };
}

function clientAgent(
  r: DecisionAuditRecord,
  input: AuditEventInput,
  type: Coding,
  requestor: boolean,
): AuditEventAgent {
  const who: Reference = {};
  if (r.principal !== '') who.identifier = { system: 'urn:ietf:rfc:3986', value: r.principal };
  who.display = r.agent !== '' ? r.agent : 'unidentified caller';
  const agent: AuditEventAgent = { type: { coding: [type] }, who, requestor };
  if (input.sourceAddress !== '') agent.network = { address: input.sourceAddress, type: '2' };
  else if (r.principal !== '') agent.network = { address: r.principal, type: '5' };
  return agent;
}

function serverAgent(r: DecisionAuditRecord, type: Coding): AuditEventAgent {
  const host = r.host.replace(/:\d+$/, '');
  const agent: AuditEventAgent = {
    type: { coding: [type] },
    who: host !== '' ? { identifier: { value: host }, display: host } : { display: 'unknown server' },
    requestor: false,
  };
  if (host !== '') agent.network = { address: host, type: '1' };
  return agent;
}

function purpose(p: AuditEventInput['purposeOfUse']): CodeableConcept[] | undefined {
  return p === undefined
    ? undefined
    : [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActReason', code: p }] }];
}

/** The entities: the patient (BALP entity[patient]), the data or query, the X-Request-Id, and the decision. */
function entities(input: AuditEventInput, t: Target, kind: Kind, patient: string | undefined): AuditEventEntity[] {
  const r = input.record;
  const entity: AuditEventEntity[] = [];
  if (patient !== undefined) {
    entity.push({
      what: { reference: `Patient/${patient}` },
      type: { system: ENTITY_TYPE, code: '1', display: 'Person' },
      role: { system: OBJECT_ROLE, code: '1', display: 'Patient' },
    });
  }
  if (kind === 'query') {
    // BALP 1:52.4.1.4: the raw search request, base64, in entity[query].query (no `what`).
    entity.push({
      type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
      role: { system: OBJECT_ROLE, code: '24', display: 'Query' },
      query: Buffer.from(`${r.method} ${input.path}`, 'utf8').toString('base64'),
    });
  } else {
    const what = dataWhat(t, r);
    if (what !== undefined) {
      entity.push({
        what,
        type: { system: ENTITY_TYPE, code: '2', display: 'System Object' },
        role: { system: OBJECT_ROLE, code: '4', display: 'Domain Resource' },
      });
    }
  }
  if (r.requestId !== '') {
    entity.push({
      what: { identifier: { value: r.requestId } },
      type: { system: BALP_ENTITY_TYPE, code: 'XrequestId' },
    });
  }
  // The decision itself, as an entity of type Other (4): a type no BALP slice uses, so it never fills one.
  const unresolved =
    r.patientsUnresolved.length > 0 ? `; patient scope unresolved: ${r.patientsUnresolved.join(', ')}` : '';
  entity.push({
    what: { identifier: { value: r.decisionId } },
    type: { system: ENTITY_TYPE, code: '4', display: 'Other' },
    description:
      `phiguard decision ${r.decision} by ${r.rule || 'no rule'} (${r.reason}), policy ${r.policyVersion || 'none'}` +
      (r.breakGlass !== '' ? `, break-glass class ${r.breakGlass}` : '') +
      unresolved,
  });

  return entity;
}

function event(input: AuditEventInput, t: Target, patient: string | undefined): AuditEvent {
  const r = input.record;
  const kind: Kind = KIND[t.interaction] ?? 'other';
  const [clientType, serverType] = ROLES[kind];
  const success = r.decision !== 'deny';
  const pou = purpose(input.purposeOfUse);
  const agents: AuditEventAgent[] = [];
  if (r.clinician !== '') {
    agents.push({
      type: { coding: [userType(kind)] },
      who: { identifier: { value: r.clinician } },
      requestor: true,
      ...(pou ? { purposeOfUse: pou } : {}),
    });
  }
  const client = clientAgent(r, input, clientType, r.clinician === '');
  const server = serverAgent(r, serverType);
  agents.push(client, server);

  const entity = entities(input, t, kind, patient);
  const profile =
    kind !== 'other' && success && client.network !== undefined && server.network !== undefined
      ? `${BALP}${PROFILE[kind][patient !== undefined ? 1 : 0]}`
      : undefined;
  const ev: AuditEvent = {
    resourceType: 'AuditEvent',
    ...(profile !== undefined ? { meta: { profile: [profile] } } : {}),
    type: {
      system: 'http://terminology.hl7.org/CodeSystem/audit-event-type',
      code: 'rest',
      display: 'Restful Operation',
    },
    ...(t.interaction !== '' ? { subtype: [{ system: INTERACTION, code: t.interaction }] } : {}),
    action: kind === 'other' ? (OTHER_ACTION[t.interaction] ?? 'E') : ACTION[kind],
    period: { start: r.requestTime, end: r.time },
    recorded: r.time,
    outcome: success ? '0' : '4',
    ...(success ? {} : { outcomeDesc: `denied: ${r.reason} (${r.rule})` }),
    ...(pou ? { purposeOfEvent: pou } : {}),
    agent: agents,
    source: {
      ...(r.host !== '' ? { site: r.host } : {}),
      observer: { display: 'phiguard' },
      type: [
        { system: 'http://terminology.hl7.org/CodeSystem/security-source-type', code: '6', display: 'Security Server' },
      ],
    },
    entity,
  };
  return ev;
}

/**
 * The AuditEvents of one decision: per target (the request, or each Bundle entry) one per patient it touches, or
 * one without a patient subject when it names none.
 */
export function auditEvents(input: AuditEventInput): AuditEvent[] {
  const out: AuditEvent[] = [];
  for (const t of targets(input.record)) {
    if (t.patients.length === 0) out.push(event(input, t, undefined));
    else for (const p of t.patients) out.push(event(input, t, p));
  }
  return out;
}

/** Which decisions `--audit-event-file` records: only break-glass lane accesses, or every decision. */
export const AUDIT_EVENT_SCOPES = ['break-glass', 'all'] as const;
export type AuditEventScope = (typeof AUDIT_EVENT_SCOPES)[number];
