/**
 * Derives the `fhir` attributes of a request from method, raw `:path`, headers and (when Envoy forwards it) body,
 * per the FHIR R4 RESTful API (http.html). Pure and total: it never throws; bad input yields `valid: false`.
 */
import { emptyFhirAttributes, type FhirAttributes } from '../model/index.js';
import { parseBundle } from './bundle.js';
import { mediaTypeOf, NO_BODY, readJsonBody, type BodyView } from './json-body.js';
import { emptyScope, mergeScope, type LocalBase, type PatientScope } from './patient-refs.js';
import { mergeParams, parseQuery, type SearchParams } from './query.js';
import { addRequestScope } from './request-scope.js';
import { inPatientCompartment } from './resource-types.js';
import { type Result, ok, err } from './result.js';
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
  /** `:authority`: with the FHIR base, the base of this server's absolute references. */
  host?: string | undefined;
}

/** `host` without the port a scheme implies (`:80`, `:443`), lower-case, for comparing authorities. */
function authorityOf(host: string): string {
  return host.toLowerCase().replace(/:(?:80|443)$/, '');
}

/** This server's bases, as absolute references name them: `<scheme>://<:authority><FHIR base>` for any scheme. */
function localBaseFor(host: string | undefined, bases: readonly (readonly string[])[]): LocalBase {
  if (host === undefined || host === '') return () => false;
  const authority = authorityOf(host);
  const paths = new Set(bases.map((b) => (b.length === 0 ? '' : `/${b.join('/')}`)));
  return (base) => {
    let url: URL;
    try {
      url = new URL(base);
    } catch {
      return false;
    }
    const path = url.pathname.replace(/\/$/, '');
    return url.username === '' && url.password === '' && authorityOf(url.host) === authority && paths.has(path);
  };
}

export interface FhirParserOptions {
  /** FHIR base paths, e.g. `["/fhir", "/fhir/R4"]`; `/` means the server root. */
  basePaths: readonly string[];
}

export type FhirRequestParser = (req: HttpRequestView) => FhirAttributes;

/** Headers (and a query parameter) that ask a server to treat the request as another method: never honoured. */
const METHOD_OVERRIDE_HEADERS = ['x-http-method-override', 'x-http-method', 'x-method-override'];

const FORM_TYPE = 'application/x-www-form-urlencoded';

/**
 * The values of `_include` (or `_revinclude`) under every modifier and spelling a lenient server may honour:
 * `:iterate`, the legacy `:recurse`, and their case variants (`_INCLUDE:Iterate`).
 */
function includeValues(params: SearchParams, name: '_include' | '_revinclude'): string[] {
  const out: string[] = [];
  for (const [k, v] of params) {
    const base = k.toLowerCase().split(':')[0];
    if (base === name) out.push(...v);
  }
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

/** A POST `_search` form body merged into the query (R4 http.html#search). */
function searchForm(req: HttpRequestView, query: SearchParams): Result<SearchParams> {
  if (req.body === undefined || req.body.length === 0)
    return req.bodyTruncated ? err('search-body-incomplete') : ok(query);
  if (req.bodyTruncated) return err('search-body-incomplete');
  if (mediaTypeOf(req.headers['content-type']) !== FORM_TYPE) return err('search-body-not-form-encoded');
  const form = parseQuery(req.body);
  return form.ok ? ok(mergeParams(query, form.value)) : form;
}

/** POST [base] with a Bundle: batch or transaction by Bundle.type (R4 http.html#transaction). */
function bundleScope(
  out: FhirAttributes,
  body: BodyView,
  bases: readonly (readonly string[])[],
  scope: PatientScope,
): string | undefined {
  if (body.kind === 'none') return 'bundle-body-missing';
  if (body.kind === 'incomplete') return 'bundle-body-incomplete';
  if (body.kind === 'not-json') return 'bundle-body-not-json';
  const bundle = parseBundle(body.value, bases, scope.localBase);
  if (!bundle.ok) return bundle.error;
  if (body.kind === 'duplicate-keys') scope.unresolved.add('duplicate-json-key');
  out.interaction = bundle.value.type;
  out.bundleType = bundle.value.type;
  out.entries = bundle.value.entries;
  mergeScope(scope, bundle.value.scope);
  out.patientCompartment = bundle.value.patientCompartment;
  return undefined;
}

/**
 * The request carried a body Envoy did not forward (`with_request_body` off): its headers say one was sent. A POST
 * `_search` form body holds parameters, so its scope is then not the query string's alone.
 */
function sentBody(headers: Readonly<Record<string, string>>): boolean {
  const length = headers['content-length'];
  return (length !== undefined && length.trim() !== '0') || headers['transfer-encoding'] !== undefined;
}

function compartmentFlag(rt: Route): boolean {
  if (rt.resourceType !== '') return inPatientCompartment(rt.resourceType);
  return rt.interaction !== 'capabilities';
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
  let params = q.value;
  let body: BodyView = NO_BODY;
  if (isPostSearch) {
    const form = searchForm(req, q.value);
    if (!form.ok) return invalid(out, form.error);
    params = form.value;
    out.bodyParsed = req.body !== undefined && req.body.length > 0;
  } else {
    const read = readJsonBody(req.body, req.headers['content-type'], req.bodyTruncated);
    if (!read.ok) return invalid(out, read.error);
    body = read.view;
    out.bodyParsed = body.kind === 'json' || body.kind === 'duplicate-keys';
  }
  const localBase = localBaseFor(req.host, bases);
  const scope = emptyScope(localBase);
  const error =
    rt.interaction === 'batch'
      ? bundleScope(out, body, bases, scope)
      : addRequestScope(
          {
            route: rt,
            params,
            ifNoneExist: req.headers['if-none-exist'] !== undefined,
            body,
            local: undefined,
            fullUrl: '',
          },
          scope,
        );
  if (error !== undefined) return invalid(out, error);
  // A body the headers announce and Envoy did not forward: a POST `_search` form's parameters, or an operation's
  // input (a `$submit` Bundle) would be scope the request does not show.
  const readsBody = isPostSearch || rt.interaction === 'operation';
  if (readsBody && !out.bodyParsed && body.kind === 'none' && sentBody(req.headers))
    scope.unresolved.add('body-not-available');
  if (rt.interaction !== 'batch') out.patientCompartment = compartmentFlag(rt);

  // A Map, as CEL sees it: a parameter named `__proto__` or `constructor` is only a parameter (an object's would
  // replace its prototype or change its CEL type, hiding the other parameters from `in` and `has`).
  out.params = params;
  out.includes = includeValues(params, '_include');
  out.revincludes = includeValues(params, '_revinclude');
  out.patients = scope.patients.size === 0 ? [] : [...scope.patients].sort();
  out.patientsUnresolved = scope.unresolved.size === 0 ? [] : [...scope.unresolved].sort();
  out.references = scope.references.size === 0 ? [] : [...scope.references].sort();
  return out;
}
