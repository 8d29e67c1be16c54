/**
 * Which patients a resource body names, and how a reference value is read.
 *
 * References (R4 references.html#Reference): relative `Patient/123`, absolute `https://host/fhir/Patient/123`,
 * versioned `…/_history/2`, contained `#id`, Bundle-local `urn:uuid:`/`urn:oid:` (bundle.html#references), and
 * conditional `Patient?identifier=…` (http.html#trules). Anything else (a trailing `/`, a query, a bare id, a
 * lower-case type) is not a reference phiguard can read, and says so: scope is never a silent partial list.
 */
import { FHIR_ID, inPatientCompartment, RESOURCE_TYPES } from './resource-types.js';

/**
 * Whether an absolute reference's base (`https://fhir.hospital.internal/fhir`) is this server's: only then is
 * `…/Patient/123` the local patient 123 (R4 references.html#literal). Another server's Patient/123 is someone else.
 */
export type LocalBase = (base: string) => boolean;
const NO_LOCAL_BASE: LocalBase = () => false;

export interface PatientScope {
  /** How absolute references are read (this server's base, or another's). */
  readonly localBase: LocalBase;
  /** Patient ids (logical ids, or `urn:uuid:` for patients created inside a Bundle). */
  readonly patients: Set<string>;
  /** Reasons why patient scope is not fully known (model/unresolved-reasons.ts). */
  readonly unresolved: Set<string>;
  /** The body's references to resources other than a Patient, as written (`fhir.references`). */
  readonly references: Set<string>;
}

export function emptyScope(localBase: LocalBase = NO_LOCAL_BASE): PatientScope {
  return { localBase, patients: new Set(), unresolved: new Set(), references: new Set() };
}

export function mergeScope(into: PatientScope, from: PatientScope): void {
  for (const p of from.patients) into.patients.add(p);
  for (const u of from.unresolved) into.unresolved.add(u);
  for (const r of from.references) into.references.add(r);
}

const PATIENT_REF =
  /^(?:([a-z][a-z0-9+.-]*:\/\/[^?#]*)\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
const OTHER_TYPED_REF =
  /^(?:[a-z][a-z0-9+.-]*:\/\/[^?#]*\/)?([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;

export type ReferenceKind =
  | { kind: 'patient'; id: string }
  /** A Patient on another server (an absolute URL whose base is not this server's). */
  | { kind: 'remote' }
  | { kind: 'other' }
  | { kind: 'local'; url: string }
  | { kind: 'conditional'; type: string }
  | { kind: 'unknown' };

/**
 * Classifies one reference value from a search parameter or a Reference.reference element. `bareIdIsPatient`: a
 * search value `subject=123` on a patient parameter may resolve to a patient, so it counts as one (over-recording
 * is safe, under-recording is not).
 */
export function classifyReference(
  value: string,
  bareIdIsPatient: boolean,
  localBase: LocalBase = NO_LOCAL_BASE,
): ReferenceKind {
  // `_history` only as the last two segments: servers split at the first `/_history/` (HAPI IdType), so one in a
  // base (`…/Patient/p-2/_history/Patient/p-1`) would be read as another resource than the one classified.
  const h = value.indexOf('/_history/');
  if (h !== -1 && (h !== value.lastIndexOf('/_history/') || !/\/_history\/[A-Za-z0-9\-.]{1,64}$/.test(value)))
    return UNKNOWN;
  if (value.startsWith('urn:uuid:') || value.startsWith('urn:oid:')) return { kind: 'local', url: value };
  if (value.startsWith('#')) return FHIR_ID.test(value.slice(1)) || value === '#' ? OTHER : UNKNOWN;
  const m = PATIENT_REF.exec(value);
  if (m?.[2] !== undefined) return m[1] === undefined || localBase(m[1]) ? { kind: 'patient', id: m[2] } : REMOTE;
  const typed = OTHER_TYPED_REF.exec(value);
  // A type that is not an R4 type (`PATIENT/1`, `patient/1`) is not "another type": lenient servers fold case.
  if (typed?.[1] !== undefined) return typed[1] !== 'Patient' && RESOURCE_TYPES.has(typed[1]) ? OTHER : UNKNOWN;
  const q = /^([A-Z][A-Za-z]+)\?./.exec(value);
  if (q?.[1] !== undefined) return { kind: 'conditional', type: q[1] };
  if (FHIR_ID.test(value)) return bareIdIsPatient ? { kind: 'patient', id: value } : UNKNOWN;
  return UNKNOWN;
}
const UNKNOWN: ReferenceKind = { kind: 'unknown' };
const REMOTE: ReferenceKind = { kind: 'remote' };
const OTHER: ReferenceKind = { kind: 'other' };

/** How `urn:` references inside a Bundle resolve: fullUrl -> the entry's resource type. */
export type LocalReferences = ReadonlyMap<string, string>;

/**
 * Adds what one body reference value names: a Patient to `patients`, any other readable reference as written to
 * `references` (a write that links to another record by id is visible to policy, `fhir.references`).
 */
export function addBodyReference(value: unknown, scope: PatientScope, local: LocalReferences | undefined): void {
  if (typeof value !== 'string') {
    scope.unresolved.add('unparsable-reference:body');
    return;
  }
  const c = classifyReference(value, false, scope.localBase);
  switch (c.kind) {
    case 'patient':
      scope.patients.add(c.id);
      return;
    case 'remote':
      scope.unresolved.add('remote-reference:body');
      return;
    case 'other':
      scope.references.add(value);
      return;
    case 'local': {
      const type = local?.get(c.url);
      if (type === undefined) scope.unresolved.add('bundle-reference');
      else if (type === 'Patient') scope.patients.add(c.url);
      else scope.references.add(value);
      return;
    }
    case 'conditional':
      if (c.type === 'Patient') scope.unresolved.add('conditional-reference:Patient');
      else scope.references.add(value);
      return;
    case 'unknown':
      scope.unresolved.add('unparsable-reference:body');
  }
}

/**
 * An element with an `identifier` object and no `reference` (R4 references.html#logical): a logical reference the
 * server or a reader resolves by identifier, whatever else the element carries. Only a `type` naming an R4 type that
 * holds no patient data (Organization, Practitioner...) makes it harmless.
 */
function isIdentifierReference(obj: Record<string, unknown>): boolean {
  const identifier = obj['identifier'];
  if (typeof identifier !== 'object' || identifier === null || Array.isArray(identifier)) return false;
  if (Object.hasOwn(obj, 'reference') || Object.hasOwn(obj, 'resourceType')) return false;
  const type = obj['type'];
  return !(typeof type === 'string' && RESOURCE_TYPES.has(type) && !inPatientCompartment(type));
}

/** Walk limits: past them the body's scope is unresolved (`body-too-complex`), never a partial list. */
export const MAX_WALK_NODES = 200_000;
export const MAX_WALK_DEPTH = 64;

/**
 * Adds the patients a JSON value names: every `reference` element, identifier-only references, and any Patient
 * nested inside it (a contained or bundled Patient is patient data about someone the request does not name).
 * `startDepth` 0 is a resource itself; a JSON Patch value fragment starts at 1.
 */
export function addPatientsFromJson(
  root: unknown,
  scope: PatientScope,
  local: LocalReferences | undefined,
  startDepth = 0,
): void {
  // Two parallel stacks (value, depth) and for-in: an object per node and Object.entries per object were most of
  // this walk's cost on the Check path.
  const values: unknown[] = [root];
  const depths: number[] = [startDepth];
  let nodes = 0;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() ?? 0;
    if (++nodes > MAX_WALK_NODES || depth > MAX_WALK_DEPTH) {
      scope.unresolved.add('body-too-complex');
      return;
    }
    if (typeof v !== 'object' || v === null) continue;
    if (Array.isArray(v)) {
      for (const x of v) {
        if (typeof x !== 'object' || x === null) continue;
        values.push(x);
        depths.push(depth + 1);
      }
      continue;
    }
    const obj = v as Record<string, unknown>;
    if (depth > 0 && obj['resourceType'] === 'Patient') scope.unresolved.add('new-patient');
    if (isIdentifierReference(obj)) scope.unresolved.add('identifier-reference');
    for (const k in obj) {
      const child = obj[k];
      if (k === 'reference') addBodyReference(child, scope, local);
      else if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
}
