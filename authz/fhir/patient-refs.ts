/**
 * Which patients a request touches.
 *
 * Sources (FHIR R4): instance paths (`Patient/123`), compartment searches (`Patient/123/Observation`,
 * compartmentdefinition.html), search parameters that place a resource in the Patient compartment
 * (CompartmentDefinition-patient; references may be typed `subject:Patient=1`, relative `Patient/1`, absolute
 * `https://host/fhir/Patient/1`, or comma-separated ORs, search.html#reference), and resource bodies.
 *
 * When the request names patients in a way that cannot be resolved from the request alone (chained parameters,
 * `_has`, `:identifier`, `:not`), the reason is recorded so a policy can deny it rather than guess.
 */
import { FHIR_ID, patientParamsFor } from './resource-types.js';
import type { SearchParams } from './query.js';

export interface PatientScope {
  /** Patient ids (logical ids, or `urn:uuid:` for patients created inside a Bundle). */
  readonly patients: Set<string>;
  /** Reasons why patient scope is not fully known, e.g. `chained-parameter:subject.name`. */
  readonly unresolved: Set<string>;
}

export function emptyScope(): PatientScope {
  return { patients: new Set(), unresolved: new Set() };
}

const PATIENT_REF =
  /^(?:[a-z][a-z0-9+.-]*:\/\/[^?#]*\/)?Patient\/([A-Za-z0-9\-.]{1,64})(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/i;
const OTHER_TYPED_REF =
  /^(?:[a-z][a-z0-9+.-]*:\/\/[^?#]*\/)?([A-Z][A-Za-z]+)\/[A-Za-z0-9\-.]{1,64}(?:\/_history\/[A-Za-z0-9\-.]{1,64})?$/;
/** `Patient/123` with any case of the type is only a Patient reference when the type is exactly `Patient`. */
const EXACT_PATIENT = /(?:^|\/)Patient\/[^/]+(?:\/_history\/[^/]+)?$/;

/**
 * Classifies one reference value from a search parameter or a Reference.reference element.
 * Returns the patient id, `other` for a reference to another type, or `unknown`.
 */
export function classifyReference(
  value: string,
  bareIdIsPatient: boolean,
): { kind: 'patient'; id: string } | { kind: 'other' } | { kind: 'unknown' } {
  const v = value.trim();
  if (v.startsWith('urn:uuid:') || v.startsWith('urn:oid:')) return { kind: 'unknown' };
  const m = PATIENT_REF.exec(v);
  if (m?.[1] !== undefined && EXACT_PATIENT.test(v)) return { kind: 'patient', id: m[1] };
  if (OTHER_TYPED_REF.test(v)) return { kind: 'other' };
  if (FHIR_ID.test(v)) return bareIdIsPatient ? { kind: 'patient', id: v } : { kind: 'other' };
  return { kind: 'unknown' };
}

/**
 * Adds the patients named by search parameters of a search on `resourceType`.
 * `_has` and chains make scope unresolved; a bare id on a polymorphic parameter (e.g. `subject=123`) is taken as a
 * patient id, because the server may resolve it to one — over-recording is safe, under-recording is not.
 */
export function addPatientsFromParams(resourceType: string, params: SearchParams, scope: PatientScope): void {
  const linking = patientParamsFor(resourceType);
  for (const [name, values] of params) {
    if (name.startsWith('_has:') || name === '_has') {
      scope.unresolved.add('reverse-chain:_has');
      continue;
    }
    const colon = name.indexOf(':');
    const dot = name.indexOf('.');
    let end = name.length;
    if (colon >= 0 && colon < end) end = colon;
    if (dot >= 0 && dot < end) end = dot;
    const base = name.slice(0, end);
    if (!linking.includes(base)) continue;
    if (dot >= 0) {
      scope.unresolved.add(`chained-parameter:${base}`);
      continue;
    }
    const modifier = colon >= 0 ? name.slice(colon + 1) : '';
    if (modifier === 'missing') continue;
    if (modifier !== '' && modifier !== 'Patient' && /^[a-z]/.test(modifier)) {
      // :identifier, :not, :above, :below, :text ... do not name logical ids.
      scope.unresolved.add(`modifier:${base}:${modifier}`);
      continue;
    }
    if (modifier !== '' && modifier !== 'Patient') continue; // typed to another resource type, e.g. subject:Group
    for (const value of values) {
      for (const one of value.split(',')) {
        if (one === '') continue;
        const c = classifyReference(one, true);
        if (c.kind === 'patient') scope.patients.add(c.id);
        else if (c.kind === 'unknown') scope.unresolved.add(`unparsable-reference:${base}`);
      }
    }
  }
}

/**
 * Adds patients referenced anywhere in a JSON resource (or JSON Patch / Parameters body): the resource itself if it
 * is a Patient, and every `reference` element pointing at `Patient/…`. Depth and node count are bounded.
 */
export function addPatientsFromResource(resource: unknown, scope: PatientScope, bundleFullUrl?: string): void {
  // Two parallel stacks (value, depth) and for-in: on the Check path an object per node and Object.entries per
  // object were most of this walk's cost.
  const values: unknown[] = [resource];
  const depths: number[] = [0];
  let nodes = 0;
  while (values.length > 0) {
    const v = values.pop();
    const depth = depths.pop() ?? 0;
    if (++nodes > 200_000 || depth > 64) {
      scope.unresolved.add('body-too-complex');
      return;
    }
    if (Array.isArray(v)) {
      for (const x of v) {
        values.push(x);
        depths.push(depth + 1);
      }
      continue;
    }
    if (v === null || typeof v !== 'object') continue;
    const obj = v as Record<string, unknown>;
    if (depth === 0 && obj['resourceType'] === 'Patient') {
      if (typeof obj['id'] === 'string' && FHIR_ID.test(obj['id'])) scope.patients.add(obj['id']);
      else if (bundleFullUrl?.startsWith('urn:uuid:')) scope.patients.add(bundleFullUrl);
    }
    for (const k in obj) {
      if (!Object.hasOwn(obj, k)) continue;
      const child = obj[k];
      if (k === 'reference' && typeof child === 'string') {
        const c = classifyReference(child, false);
        if (c.kind === 'patient') scope.patients.add(c.id);
        else if (child.startsWith('Patient?')) scope.unresolved.add('conditional-reference:Patient');
      } else if (typeof child === 'object' && child !== null) {
        values.push(child);
        depths.push(depth + 1);
      }
    }
  }
}
