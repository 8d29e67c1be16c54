/**
 * Maps an HTTP method and the path segments after the FHIR base to an interaction, per the URL patterns of the
 * FHIR R4 RESTful API (http.html#summary; R5 adds nothing that changes these shapes). Shapes that match none of
 * them are invalid, never "a harmless read".
 */
import type { FhirInteraction } from '../model/index.js';
import { COMPARTMENT_TYPES, FHIR_ID, OPERATION_NAME, RESOURCE_TYPES } from './resource-types.js';
import { type Result, ok, err } from './result.js';

export interface Route {
  interaction: FhirInteraction;
  resourceType: string;
  id: string;
  versionId: string;
  operation: string;
  compartment: { type: string; id: string };
  /** The interaction is conditional (`PUT [type]?criteria`, R4 http.html#cond-update). */
  conditional: boolean;
}

function route(interaction: FhirInteraction, fields: Partial<Omit<Route, 'interaction'>> = {}): Result<Route> {
  return ok({
    interaction,
    resourceType: fields.resourceType ?? '',
    id: fields.id ?? '',
    versionId: fields.versionId ?? '',
    operation: fields.operation ?? '',
    compartment: fields.compartment ?? { type: '', id: '' },
    conditional: fields.conditional ?? false,
  });
}

function checkType(t: string): string | undefined {
  if (RESOURCE_TYPES.has(t)) return undefined;
  for (const known of RESOURCE_TYPES) if (known.toLowerCase() === t.toLowerCase()) return 'wrong-case-resource-type';
  return 'unknown-resource-type';
}

const BAD: Result<Route> = err('method-not-allowed-for-path');

/** `[base]`, `[base]/metadata`, `[base]/_history`, `[base]/_search`, `[base]/$op`, `[base]/[type]`. */
function routeTop(method: string, s0: string | undefined, hasQuery: boolean): Result<Route> {
  if (s0 === undefined) {
    if (method === 'GET') return route('search-system');
    if (method === 'POST') return route('batch'); // batch vs transaction is decided from Bundle.type
    return BAD;
  }
  if (s0 === 'metadata') return method === 'GET' ? route('capabilities') : BAD;
  if (s0 === '_history') return method === 'GET' ? route('history-system') : BAD;
  if (s0 === '_search') return method === 'POST' ? route('search-system') : BAD;
  if (s0.startsWith('$')) {
    if (!OPERATION_NAME.test(s0)) return err('invalid-operation-name');
    return method === 'GET' || method === 'POST' ? route('operation', { operation: s0 }) : BAD;
  }
  const typeErr = checkType(s0);
  if (typeErr) return err(typeErr);
  switch (method) {
    case 'GET':
      return route('search-type', { resourceType: s0 });
    case 'POST':
      return route('create', { resourceType: s0, conditional: hasQuery });
    case 'PUT':
    case 'PATCH':
    case 'DELETE': {
      // Conditional update, patch and delete (R4 http.html#cond-update): criteria are required.
      if (!hasQuery) return err('conditional-without-criteria');
      const interaction = method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : 'delete';
      return route(interaction, { resourceType: s0, conditional: true });
    }
    default:
      return BAD;
  }
}

/** `[type]/_search`, `[type]/_history`, `[type]/$op`, `[type]/[id]`. */
function routeType(method: string, resourceType: string, s1: string): Result<Route> {
  if (s1 === '_search') return method === 'POST' ? route('search-type', { resourceType }) : BAD;
  if (s1 === '_history') return method === 'GET' ? route('history-type', { resourceType }) : BAD;
  if (s1.startsWith('$')) {
    if (!OPERATION_NAME.test(s1)) return err('invalid-operation-name');
    return method === 'GET' || method === 'POST' ? route('operation', { resourceType, operation: s1 }) : BAD;
  }
  if (!FHIR_ID.test(s1)) return err('invalid-id');
  switch (method) {
    case 'GET':
      return route('read', { resourceType, id: s1 });
    case 'PUT':
      return route('update', { resourceType, id: s1 });
    case 'PATCH':
      return route('patch', { resourceType, id: s1 });
    case 'DELETE':
      return route('delete', { resourceType, id: s1 });
    default:
      return BAD;
  }
}

/** `[type]/[id]/_history`, `[type]/[id]/$op`, and compartment searches `[Compartment]/[id]/[type]` or `/*`. */
function routeInstance(method: string, resourceType: string, id: string, s2: string): Result<Route> {
  if (s2 === '_history') return method === 'GET' ? route('history-instance', { resourceType, id }) : BAD;
  if (s2.startsWith('$')) {
    if (!OPERATION_NAME.test(s2)) return err('invalid-operation-name');
    return method === 'GET' || method === 'POST' ? route('operation', { resourceType, id, operation: s2 }) : BAD;
  }
  // Compartment search: GET [base]/[Compartment]/[id]/[type] or .../* (R4 http.html#search, compartmentdefinition.html)
  if (!COMPARTMENT_TYPES.has(resourceType)) return err('not-a-compartment');
  const compartment = { type: resourceType, id };
  if (s2 === '*') return method === 'GET' ? route('search-system', { compartment }) : BAD;
  const innerErr = checkType(s2);
  if (innerErr) return err(innerErr);
  return method === 'GET' ? route('search-type', { resourceType: s2, compartment }) : BAD;
}

/** `[type]/[id]/_history/[vid]` and `[Compartment]/[id]/[type]/_search`. */
function routeDeep(method: string, resourceType: string, id: string, s2: string, s3: string): Result<Route> {
  if (s2 === '_history') {
    if (!FHIR_ID.test(s3)) return err('invalid-version-id');
    return method === 'GET' ? route('vread', { resourceType, id, versionId: s3 }) : BAD;
  }
  if (s3 === '_search' && COMPARTMENT_TYPES.has(resourceType)) {
    const innerErr = checkType(s2);
    if (innerErr) return err(innerErr);
    return method === 'POST'
      ? route('search-type', { resourceType: s2, compartment: { type: resourceType, id } })
      : BAD;
  }
  return err('unrecognized-path');
}

/**
 * Routes one request. `segments` are the decoded path segments after the base; `hasQuery` tells whether search
 * criteria were given (conditional update/patch/delete need them). HEAD is treated as GET (R5 http.html#head).
 */
export function routeFhir(methodIn: string, segments: readonly string[], hasQuery: boolean): Result<Route> {
  const method = methodIn === 'HEAD' ? 'GET' : methodIn;
  if (!['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].includes(method)) return err('unsupported-method');
  const [s0, s1, s2, s3] = segments;
  if (s0 === undefined || segments.length === 1) return routeTop(method, s0, hasQuery);
  const typeErr = checkType(s0);
  if (typeErr) return err(typeErr);
  if (s1 === undefined) return err('unrecognized-path');
  if (segments.length === 2) return routeType(method, s0, s1);
  if (!FHIR_ID.test(s1)) return err('invalid-id');
  if (s2 === undefined) return err('unrecognized-path');
  if (segments.length === 3) return routeInstance(method, s0, s1, s2);
  if (segments.length === 4 && s3 !== undefined) return routeDeep(method, s0, s1, s2, s3);
  return err('unrecognized-path');
}
