/**
 * The patients one request touches, by interaction (R4 http.html): the same rules for a standalone request and for
 * each entry of a batch or transaction Bundle.
 *
 * - Instance interactions: the path names the patient for Patient; for any other Patient-compartment type the stored
 *   resource's patient is on the server (`instance-of:[type]`).
 * - Searches and history: search-scope.ts.
 * - create, update, patch: the patients come from what the server will write, the body. Search parameters on a
 *   create or update are not patient scope; the conditional forms have criteria whose match is unknown
 *   (`conditional-*`). An id given on create is ignored by the server (http.html#create), so it names no one.
 * - Operations: at type or system level, and `$graphql` anywhere, the server defines what is read (`operation:…`).
 */
import { bodyReason, type BodyView } from './json-body.js';
import { addPatientsFromJson, addBodyReference, type LocalReferences, type PatientScope } from './patient-refs.js';
import type { SearchParams } from './query.js';
import { compartmentParamsFor, inPatientCompartment, subjectParamsFor } from './resource-types.js';
import type { Route } from './route.js';
import { addSearchScope } from './search-scope.js';

export interface ScopeInput {
  route: Route;
  /** Query parameters (and a POST `_search` form body). */
  params: SearchParams;
  /** `If-None-Exist` was given (conditional create, http.html#ccreate). */
  ifNoneExist: boolean;
  body: BodyView;
  /** `urn:` fullUrls of the enclosing Bundle, if any. */
  local: LocalReferences | undefined;
  /** The Bundle entry's fullUrl, if any. */
  fullUrl: string;
}

function instanceScope(rt: Route, scope: PatientScope): void {
  if (rt.resourceType === 'Patient') scope.patients.add(rt.id);
  else if (inPatientCompartment(rt.resourceType)) scope.unresolved.add(`instance-of:${rt.resourceType}`);
}

/**
 * A Patient compartment search (`Patient/X/Observation`) returns the resources in which X appears through any of the
 * type's compartment parameters (R4 compartmentdefinition-patient): through `performer`, `asserter`, `author`,
 * `link`… those are other patients' records. It is scoped to X only when every compartment parameter of the type is
 * a subject parameter; otherwise it is a population query over the participant parameters.
 */
function patientCompartmentScoped(type: string): boolean {
  const subjects = new Set(subjectParamsFor(type));
  return compartmentParamsFor(type).every((p) => subjects.has(p));
}

function searchScope(rt: Route, params: SearchParams, scope: PatientScope): void {
  const history = rt.interaction === 'history-type' || rt.interaction === 'history-system';
  if (rt.compartment.type === 'Patient') {
    scope.patients.add(rt.compartment.id);
    // `Patient/X/*` (every type): the participant parameters of every type.
    if (rt.resourceType === '') scope.unresolved.add('population-query:*');
    else if (!patientCompartmentScoped(rt.resourceType)) scope.unresolved.add(`population-query:${rt.resourceType}`);
  } else if (rt.compartment.type !== '') scope.unresolved.add(`compartment:${rt.compartment.type}`);
  const scoped = rt.compartment.type !== '';
  addSearchScope(rt.resourceType, params, scope, { history, scoped });
}

function operationScope(input: ScopeInput, scope: PatientScope): string | undefined {
  const rt = input.route;
  if (rt.operation === '$graphql') scope.unresolved.add('operation:$graphql');
  else if (rt.id !== '') instanceScope(rt, scope);
  else
    scope.unresolved.add(
      rt.resourceType === '' ? `operation:${rt.operation}` : `operation:${rt.resourceType}/${rt.operation}`,
    );
  // An operation's query parameters may name patients; its reason already marks the scope as unresolved.
  addSearchScope(rt.resourceType, input.params, scope, { strict: false });
  if (input.body.kind === 'json') addPatientsFromJson(input.body.value, scope, input.local);
  else if (input.body.kind !== 'none') scope.unresolved.add(bodyReason(input.body) ?? 'body-not-json');
  return undefined;
}

/** A JSON Patch (RFC 6902) or a FHIRPath Patch (Parameters, R4 fhirpatch.html). */
function patchScope(body: BodyView, scope: PatientScope, local: LocalReferences | undefined): string | undefined {
  if (body.kind !== 'json') {
    scope.unresolved.add(bodyReason(body) ?? 'body-not-json');
    return undefined;
  }
  const v = body.value;
  if (Array.isArray(v)) {
    for (const op of v) {
      if (typeof op !== 'object' || op === null || Array.isArray(op)) return 'patch-body-invalid';
      const { path, value } = op as { path?: unknown; value?: unknown };
      if (typeof path !== 'string') return 'patch-body-invalid';
      // `/subject/reference` with a string value rewrites a reference; an object value is walked like a resource.
      if (typeof value === 'string' && path.endsWith('/reference')) addBodyReference(value, scope, local);
      else if (typeof value === 'object' && value !== null) {
        if (!Array.isArray(value) && path.endsWith('/identifier')) scope.unresolved.add('identifier-reference');
        addPatientsFromJson(value, scope, local, 1);
      }
    }
    return undefined;
  }
  if (typeof v === 'object' && v !== null && (v as Record<string, unknown>)['resourceType'] === 'Parameters') {
    scope.unresolved.add('fhirpath-patch');
    return undefined;
  }
  return 'patch-body-invalid';
}

/** create and update: the body is the resource the server writes. */
function writeScope(input: ScopeInput, scope: PatientScope): string | undefined {
  const rt = input.route;
  const { body } = input;
  if (rt.interaction === 'create') {
    if (input.ifNoneExist) scope.unresolved.add(`conditional-create:${rt.resourceType}`);
    if (rt.resourceType === 'Patient') {
      if (input.fullUrl.startsWith('urn:uuid:') && input.local !== undefined) scope.patients.add(input.fullUrl);
      else scope.unresolved.add('new-patient');
    }
  } else if (rt.conditional) scope.unresolved.add(`conditional-update:${rt.resourceType}`);
  else instanceScope(rt, scope);
  if (body.kind !== 'json') {
    scope.unresolved.add(bodyReason(body) ?? 'body-not-json');
    return undefined;
  }
  const resource = body.value;
  if (typeof resource !== 'object' || resource === null || Array.isArray(resource)) return 'body-not-a-resource';
  const r = resource as Record<string, unknown>;
  if (r['resourceType'] !== rt.resourceType) return 'body-type-mismatch';
  // R4 http.html#update: the id in the body must match the id in the URL.
  if (rt.interaction === 'update' && !rt.conditional && r['id'] !== rt.id) return 'body-id-mismatch';
  addPatientsFromJson(resource, scope, input.local);
  return undefined;
}

/** Adds the scope of one request; an invalid reason when the body contradicts the request. */
export function addRequestScope(input: ScopeInput, scope: PatientScope): string | undefined {
  const rt = input.route;
  switch (rt.interaction) {
    case 'read':
    case 'vread':
    case 'history-instance':
      instanceScope(rt, scope);
      return undefined;
    case 'delete':
      if (rt.conditional) scope.unresolved.add(`conditional-delete:${rt.resourceType}`);
      else instanceScope(rt, scope);
      return undefined;
    case 'patch':
      if (rt.conditional) scope.unresolved.add(`conditional-patch:${rt.resourceType}`);
      else instanceScope(rt, scope);
      return patchScope(input.body, scope, input.local);
    case 'create':
    case 'update':
      return writeScope(input, scope);
    case 'operation':
      return operationScope(input, scope);
    case 'search-type':
    case 'search-system':
    case 'history-type':
    case 'history-system':
      searchScope(rt, input.params, scope);
      return undefined;
    case 'capabilities':
    case 'batch':
    case 'transaction':
      return undefined;
  }
}
