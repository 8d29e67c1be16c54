/**
 * batch/transaction Bundles (FHIR R4 http.html#transaction): each entry's `request.method` + `request.url` is routed
 * like a top-level request, and its scope follows the standalone rules (request-scope.ts), with `entry.resource` as
 * the body, `request.ifNoneExist` as the conditional-create header and `urn:` references resolved against the
 * Bundle's fullUrls (bundle.html#references).
 */
import type { FhirEntryAttributes } from '../model/index.js';
import type { BodyView } from './json-body.js';
import { hasDuplicateKeys, NO_BODY } from './json-body.js';
import { emptyScope, mergeScope, type LocalBase, type LocalReferences, type PatientScope } from './patient-refs.js';
import { parseQuery } from './query.js';
import { addRequestScope } from './request-scope.js';
import { inPatientCompartment } from './resource-types.js';
import { routeFhir, type Route } from './route.js';
import { splitPath, matchBase } from './split-path.js';
import { type Result, ok, err } from './result.js';

export interface ParsedBundle {
  type: 'batch' | 'transaction';
  entries: FhirEntryAttributes[];
  scope: PatientScope;
  patientCompartment: boolean;
}

/** Bounds the work one Check may do on a Bundle. Envoy's `max_request_bytes` bounds the body; this bounds entries. */
export const MAX_BUNDLE_ENTRIES = 10_000;

function entryUrlSegments(
  url: string,
  bases: readonly (readonly string[])[],
): Result<{ segments: string[]; query: string; hasQuery: boolean }> {
  if (url === '') return err('bundle-entry-url-empty');
  let pathAndQuery = url;
  if (/^[a-z][a-z0-9+.-]*:/i.test(url)) {
    // Absolute URL: it must point under one of our bases (R4 bundle.html#bundle-request-url).
    let parsed: URL;
    try {
      parsed = new URL(url);
    } catch {
      return err('bundle-entry-url-invalid');
    }
    const split = splitPath(parsed.pathname + parsed.search);
    if (!split.ok) return err(`bundle-entry-${split.error}`);
    const b = matchBase(split.value.segments, bases);
    if (b === -1) return err('bundle-entry-url-outside-base');
    const base = bases[b] ?? [];
    return ok({
      segments: split.value.segments.slice(base.length),
      query: split.value.query,
      hasQuery: split.value.hasQuery,
    });
  }
  if (!pathAndQuery.startsWith('/')) pathAndQuery = `/${pathAndQuery}`;
  const split = splitPath(pathAndQuery);
  if (!split.ok) return err(`bundle-entry-${split.error}`);
  return ok({ segments: split.value.segments, query: split.value.query, hasQuery: split.value.hasQuery });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The fullUrls of the entries that carry a resource: `urn:` references resolve against them. */
function localReferences(entries: readonly unknown[]): LocalReferences {
  const local = new Map<string, string>();
  for (const raw of entries) {
    if (!isRecord(raw) || typeof raw['fullUrl'] !== 'string' || !isRecord(raw['resource'])) continue;
    const type = raw['resource']['resourceType'];
    if (typeof type === 'string') local.set(raw['fullUrl'], type);
  }
  return local;
}

/**
 * A PATCH entry's body (http.html#patch in transactions): a Binary carrying a JSON Patch (base64 `data`), or a
 * Parameters resource (FHIRPath Patch).
 */
function patchEntryBody(resource: Record<string, unknown>): BodyView {
  if (resource['resourceType'] !== 'Binary')
    return { kind: 'json', value: resource, mediaType: 'application/fhir+json' };
  const contentType = resource['contentType'];
  const data = resource['data'];
  if (contentType !== 'application/json-patch+json' || typeof data !== 'string') return { kind: 'not-json' };
  const text = Buffer.from(data, 'base64').toString('utf8');
  try {
    const value: unknown = JSON.parse(text);
    if (hasDuplicateKeys(text)) return { kind: 'duplicate-keys', value };
    return { kind: 'json', value, mediaType: contentType };
  } catch {
    return { kind: 'not-json' };
  }
}

function entryBody(rt: Route, resource: unknown): Result<BodyView> {
  if (resource === undefined) {
    if (rt.interaction === 'create' || rt.interaction === 'update' || rt.interaction === 'patch')
      return err('bundle-entry-without-resource');
    return ok(NO_BODY);
  }
  if (!isRecord(resource)) return err('bundle-entry-resource-invalid');
  if (rt.interaction === 'patch') return ok(patchEntryBody(resource));
  return ok({ kind: 'json', value: resource, mediaType: 'application/fhir+json' });
}

function parseEntry(
  raw: unknown,
  bases: readonly (readonly string[])[],
  local: LocalReferences,
  localBase: LocalBase | undefined,
): Result<{ entry: FhirEntryAttributes; scope: PatientScope; compartment: boolean }> {
  if (!isRecord(raw) || !isRecord(raw['request'])) return err('bundle-entry-without-request');
  const { method, url, ifNoneExist } = raw['request'];
  if (typeof method !== 'string' || typeof url !== 'string') return err('bundle-entry-without-request');
  const where = entryUrlSegments(url, bases);
  if (!where.ok) return err(where.error);
  const r = routeFhir(method, where.value.segments, where.value.hasQuery);
  if (!r.ok) return err(`bundle-entry-${r.error}`);
  const rt = r.value;
  if (rt.interaction === 'batch' || rt.interaction === 'transaction') return err('bundle-entry-nested-bundle');
  const q = parseQuery(where.value.query);
  if (!q.ok) return err(`bundle-entry-${q.error}`);
  const body = entryBody(rt, raw['resource']);
  if (!body.ok) return err(body.error);
  const scope = emptyScope(localBase);
  const error = addRequestScope(
    {
      route: rt,
      params: q.value,
      ifNoneExist: typeof ifNoneExist === 'string' && ifNoneExist !== '',
      body: body.value,
      local,
      fullUrl: typeof raw['fullUrl'] === 'string' ? raw['fullUrl'] : '',
    },
    scope,
  );
  if (error !== undefined) return err(`bundle-entry-${error}`);
  const entry: FhirEntryAttributes = {
    method,
    interaction: rt.interaction,
    resourceType: rt.resourceType,
    id: rt.id,
    operation: rt.operation,
    patients: [...scope.patients].sort(),
    patientsUnresolved: [...scope.unresolved].sort(),
    references: [...scope.references].sort(),
  };
  const compartment =
    inPatientCompartment(rt.resourceType) || rt.interaction === 'search-system' || rt.interaction === 'history-system';
  return ok({ entry, scope, compartment });
}

/**
 * Parses a Bundle body already decoded from JSON (duplicate keys were checked on its text). Any malformed entry
 * makes the whole request invalid; the Bundle's scope is the union of its entries'.
 */
export function parseBundle(
  body: unknown,
  bases: readonly (readonly string[])[],
  localBase?: LocalBase,
): Result<ParsedBundle> {
  if (!isRecord(body) || body['resourceType'] !== 'Bundle') return err('not-a-bundle');
  const type = body['type'];
  if (type !== 'batch' && type !== 'transaction') return err('bundle-type-not-batch-or-transaction');
  const rawEntries = body['entry'] ?? [];
  if (!Array.isArray(rawEntries)) return err('bundle-entry-not-a-list');
  if (rawEntries.length > MAX_BUNDLE_ENTRIES) return err('bundle-too-many-entries');
  const local = localReferences(rawEntries);
  const scope = emptyScope(localBase);
  const entries: FhirEntryAttributes[] = [];
  let patientCompartment = false;
  for (const raw of rawEntries) {
    const parsed = parseEntry(raw, bases, local, localBase);
    if (!parsed.ok) return err(parsed.error);
    mergeScope(scope, parsed.value.scope);
    entries.push(parsed.value.entry);
    patientCompartment ||= parsed.value.compartment;
  }
  return ok({ type, entries, scope, patientCompartment });
}
