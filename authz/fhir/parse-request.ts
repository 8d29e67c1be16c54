/**
 * Derives the `fhir` attributes of a request from method, raw `:path`, headers and (when Envoy forwards it) body,
 * per the FHIR R4 RESTful API (http.html). Pure and total: it never throws; bad input yields `valid: false`.
 */
import { emptyFhirAttributes, type FhirAttributes } from '../model/index.js';
import { parseBundle } from './bundle.js';
import { addPatientsFromParams, addPatientsFromResource, emptyScope } from './patient-refs.js';
import { mergeParams, parseQuery, type SearchParams } from './query.js';
import { inPatientCompartment } from './resource-types.js';
import { routeFhir, type Route } from './route.js';
import { baseSegments, matchBase, splitPath } from './split-path.js';

export interface HttpRequestView {
  method: string;
  /** Raw `:path`, query included, undecoded. */
  path: string;
  /** Lower-case header names. */
  headers: Readonly<Record<string, string>>;
  /** Body as text, if Envoy forwarded one. */
  body: string | undefined;
  /** Envoy truncated the body (`x-envoy-auth-partial-body: true`). */
  bodyTruncated: boolean;
}

export interface FhirParserOptions {
  /** FHIR base paths, e.g. `["/fhir", "/fhir/R4"]`; `/` means the server root. */
  basePaths: readonly string[];
}

export type FhirRequestParser = (req: HttpRequestView) => FhirAttributes;

/** Headers (and a query parameter) that ask a server to treat the request as another method: never honoured. */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

const JSON_TYPES = new Set(['application/fhir+json', 'application/json', 'application/json-patch+json']);
const FORM_TYPE = 'application/x-www-form-urlencoded';

function mediaType(headers: Readonly<Record<string, string>>): string {
  return (headers['content-type'] ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

function joined(a: string[] | undefined, b: string[] | undefined): string[] {
  if (a === undefined) return b === undefined ? [] : [...b];
  return b === undefined ? [...a] : [...a, ...b];
}

/**
 * The parameters as the map CEL sees. Without a prototype: a parameter named `__proto__` is a parameter, and cannot
 * replace the map's prototype (which would change its CEL type and hide the other parameters from `in` and `has`).
 */
function toRecord(params: SearchParams): Record<string, string[]> {
  const out = Object.create(null) as Record<string, string[]>;
  for (const [k, v] of params) out[k] = v;
  return out;
}

/** Builds a parser for the configured base paths. */
export function createFhirRequestParser(options: FhirParserOptions): FhirRequestParser {
  const bases = options.basePaths.map(baseSegments);
  const baseStrings = options.basePaths.map((b) => `/${baseSegments(b).join('/')}`);
  return (req) => parseFhirRequest(req, bases, baseStrings);
}

function invalid(out: FhirAttributes, reason: string): FhirAttributes {
  out.valid = false;
  out.invalidReason = reason;
  out.interaction = '';
  return out;
}

/** The request body as FHIR input: a JSON resource, or a POST `_search` form merged into the query. */
function readBody(
  req: HttpRequestView,
  out: FhirAttributes,
  isPostSearch: boolean,
  query: SearchParams,
): { ok: true; json: unknown; params: SearchParams } | { ok: false; error: string } {
  const type = mediaType(req.headers);
  const hasBody = req.body !== undefined && req.body.length > 0;
  // Parse JSON, never letting a bad body turn into an allow.
  let json: unknown = undefined;
  if (hasBody && JSON_TYPES.has(type) && !req.bodyTruncated) {
    try {
      json = JSON.parse(req.body ?? '');
      out.bodyParsed = true;
    } catch {
      return { ok: false, error: 'unparsable-body' };
    }
  }
  if (!(isPostSearch && hasBody)) return { ok: true, json, params: query };
  if (req.bodyTruncated) return { ok: false, error: 'search-body-incomplete' };
  if (type !== FORM_TYPE) return { ok: false, error: 'search-body-not-form-encoded' };
  const form = parseQuery(req.body ?? '');
  if (!form.ok) return { ok: false, error: form.error };
  out.bodyParsed = true;
  return { ok: true, json, params: mergeParams(query, form.value) };
}

/** POST [base] with a Bundle: batch or transaction by Bundle.type (R4 http.html#transaction). */
function bundleScope(
  req: HttpRequestView,
  out: FhirAttributes,
  json: unknown,
  bases: readonly (readonly string[])[],
  scope: ReturnType<typeof emptyScope>,
): string | undefined {
  const hasBody = req.body !== undefined && req.body.length > 0;
  if (!hasBody) return req.bodyTruncated ? 'bundle-body-incomplete' : 'bundle-body-missing';
  if (req.bodyTruncated) return 'bundle-body-incomplete';
  if (!JSON_TYPES.has(mediaType(req.headers))) return 'bundle-body-not-json';
  const bundle = parseBundle(json, bases);
  if (!bundle.ok) return bundle.error;
  out.interaction = bundle.value.type;
  out.bundleType = bundle.value.type;
  out.entries = bundle.value.entries;
  for (const p of bundle.value.scope.patients) scope.patients.add(p);
  for (const u of bundle.value.scope.unresolved) scope.unresolved.add(u);
  out.patientCompartment = bundle.value.patientCompartment;
  return undefined;
}

/** Patients named by the path and the search parameters of a request that is not a Bundle. */
function pathAndParamsScope(
  rt: Route,
  params: SearchParams,
  out: FhirAttributes,
  scope: ReturnType<typeof emptyScope>,
): void {
  if (rt.resourceType === 'Patient' && rt.id !== '') scope.patients.add(rt.id);
  if (rt.compartment.type === 'Patient') scope.patients.add(rt.compartment.id);
  else if (rt.compartment.type !== '') scope.unresolved.add(`compartment:${rt.compartment.type}`);
  if (rt.id !== '' && rt.resourceType !== 'Patient' && inPatientCompartment(rt.resourceType)) {
    scope.unresolved.add(`instance-of:${rt.resourceType}`);
  }
  if (rt.resourceType === '') {
    // System level (search-system, history-system, `$export`...): spans every type, so patient data too.
    const types = (params.get('_type') ?? []).flatMap((v) => v.split(',')).filter(Boolean);
    for (const t of types.length > 0 ? types : ['']) addPatientsFromParams(t, params, scope);
    out.patientCompartment = rt.interaction !== 'capabilities';
  } else {
    addPatientsFromParams(rt.resourceType, params, scope);
    out.patientCompartment = inPatientCompartment(rt.resourceType);
  }
}

/** Patients named by a resource, patch or Parameters body; an error reason when the body contradicts the URL. */
function bodyScope(
  req: HttpRequestView,
  rt: Route,
  method: string,
  json: unknown,
  isPostSearch: boolean,
  scope: ReturnType<typeof emptyScope>,
): string | undefined {
  const writes = rt.interaction === 'create' || rt.interaction === 'update';
  if (json === undefined) {
    if (writes || rt.interaction === 'patch' || (rt.interaction === 'operation' && method === 'POST')) {
      const hasBody = req.body !== undefined && req.body.length > 0;
      if (req.bodyTruncated) scope.unresolved.add('body-incomplete');
      else if (!hasBody) scope.unresolved.add('body-not-available');
      else if (!isPostSearch) scope.unresolved.add('body-not-json');
    }
    return undefined;
  }
  if (writes && typeof json === 'object' && json !== null && !Array.isArray(json)) {
    const body = json as Record<string, unknown>;
    if (body['resourceType'] !== rt.resourceType) return 'body-type-mismatch';
    // R4 http.html#update: the id in the body must match the id in the URL.
    if (rt.interaction === 'update' && !rt.conditional && body['id'] !== undefined && body['id'] !== rt.id) {
      return 'body-id-mismatch';
    }
    if (rt.interaction === 'create' && rt.resourceType === 'Patient') scope.unresolved.add('new-patient');
  } else if (writes) {
    return 'body-not-a-resource';
  }
  addPatientsFromResource(json, scope);
  return undefined;
}

function parseFhirRequest(
  req: HttpRequestView,
  bases: readonly (readonly string[])[],
  baseStrings: readonly string[],
): FhirAttributes {
  const out = emptyFhirAttributes();
  const split = splitPath(req.path);
  if (!split.ok) {
    // A path we cannot even split is hostile whether or not it was meant for FHIR.
    out.isFhir = true;
    return invalid(out, split.error);
  }
  const b = matchBase(split.value.segments, bases);
  if (b === -1) return out;
  out.isFhir = true;
  out.base = baseStrings[b] ?? '';
  // Methods are case-sensitive (RFC 9110 §9.1): `get` is not GET, and routing refuses it.
  const method = req.method;

  for (const h of METHOD_OVERRIDE_HEADERS)
    if (req.headers[h] !== undefined) return invalid(out, 'method-override-header');
  const q = parseQuery(split.value.query);
  if (!q.ok) return invalid(out, q.error);
  if (q.value.has('_method')) return invalid(out, 'method-override-parameter');

  const segments = split.value.segments.slice((bases[b] ?? []).length);
  const r = routeFhir(method, segments, split.value.hasQuery && q.value.size > 0);
  if (!r.ok) return invalid(out, r.error);
  const rt = r.value;
  out.interaction = rt.interaction;
  out.resourceType = rt.resourceType;
  out.id = rt.id;
  out.versionId = rt.versionId;
  out.operation = rt.operation;
  out.compartment = rt.compartment;
  out.bodyComplete = !req.bodyTruncated;

  const isPostSearch = method === 'POST' && (rt.interaction === 'search-type' || rt.interaction === 'search-system');
  const body = readBody(req, out, isPostSearch, q.value);
  if (!body.ok) return invalid(out, body.error);
  const { json, params } = body;
  const scope = emptyScope();
  if (rt.interaction === 'batch') {
    const error = bundleScope(req, out, json, bases, scope);
    if (error !== undefined) return invalid(out, error);
  } else {
    pathAndParamsScope(rt, params, out, scope);
    const error = bodyScope(req, rt, method, json, isPostSearch, scope);
    if (error !== undefined) return invalid(out, error);
  }

  out.params = toRecord(params);
  out.includes = joined(params.get('_include'), params.get('_include:iterate'));
  out.revincludes = joined(params.get('_revinclude'), params.get('_revinclude:iterate'));
  out.patients = scope.patients.size === 0 ? [] : [...scope.patients].sort();
  out.patientsUnresolved = scope.unresolved.size === 0 ? [] : [...scope.unresolved].sort();
  return out;
}
