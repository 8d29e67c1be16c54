/**
 * batch/transaction Bundles (FHIR R4 http.html#transaction): each entry's `request.method` + `request.url` is routed
 * like a top-level request, and its `resource` (for create/update) is scanned for patients.
 */
import type { FhirEntryAttributes } from '../model/index.js';
import { addPatientsFromParams, addPatientsFromResource, emptyScope, type PatientScope } from './patient-refs.js';
import { parseQuery } from './query.js';
import { inPatientCompartment } from './resource-types.js';
import { routeFhir } from './route.js';
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

/** Parses a Bundle body already decoded from JSON. Any malformed entry makes the whole request invalid. */
export function parseBundle(body: unknown, bases: readonly (readonly string[])[]): Result<ParsedBundle> {
  if (!isRecord(body) || body['resourceType'] !== 'Bundle') return err('not-a-bundle');
  const type = body['type'];
  if (type !== 'batch' && type !== 'transaction') return err('bundle-type-not-batch-or-transaction');
  const rawEntries = body['entry'] ?? [];
  if (!Array.isArray(rawEntries)) return err('bundle-entry-not-a-list');
  if (rawEntries.length > MAX_BUNDLE_ENTRIES) return err('bundle-too-many-entries');
  const scope = emptyScope();
  const entries: FhirEntryAttributes[] = [];
  let patientCompartment = false;
  for (const raw of rawEntries) {
    if (!isRecord(raw) || !isRecord(raw['request'])) return err('bundle-entry-without-request');
    const method = raw['request']['method'];
    const url = raw['request']['url'];
    if (typeof method !== 'string' || typeof url !== 'string') return err('bundle-entry-without-request');
    const where = entryUrlSegments(url, bases);
    if (!where.ok) return err(where.error);
    const r = routeFhir(method, where.value.segments, where.value.hasQuery);
    if (!r.ok) return err(`bundle-entry-${r.error}`);
    const rt = r.value;
    if (rt.interaction === 'batch' || rt.interaction === 'transaction') return err('bundle-entry-nested-bundle');
    const entryScope = emptyScope();
    const q = parseQuery(where.value.query);
    if (!q.ok) return err(`bundle-entry-${q.error}`);
    if (rt.resourceType === 'Patient' && rt.id !== '') entryScope.patients.add(rt.id);
    if (rt.compartment.type === 'Patient') entryScope.patients.add(rt.compartment.id);
    addPatientsFromParams(rt.resourceType, q.value, entryScope);
    const resource = raw['resource'];
    if (resource !== undefined) {
      if (!isRecord(resource)) return err('bundle-entry-resource-invalid');
      if (
        (rt.interaction === 'create' || rt.interaction === 'update') &&
        resource['resourceType'] !== rt.resourceType
      ) {
        return err('bundle-entry-resource-type-mismatch');
      }
      const fullUrl = typeof raw['fullUrl'] === 'string' ? raw['fullUrl'] : undefined;
      addPatientsFromResource(resource, entryScope, fullUrl);
    }
    if (
      rt.id !== '' &&
      rt.resourceType !== 'Patient' &&
      inPatientCompartment(rt.resourceType) &&
      resource === undefined
    ) {
      entryScope.unresolved.add(`instance-of:${rt.resourceType}`);
    }
    patientCompartment ||= inPatientCompartment(rt.resourceType) || rt.interaction === 'search-system';
    for (const p of entryScope.patients) scope.patients.add(p);
    for (const u of entryScope.unresolved) scope.unresolved.add(u);
    entries.push({
      method: method.toUpperCase(),
      interaction: rt.interaction,
      resourceType: rt.resourceType,
      id: rt.id,
      operation: rt.operation,
      patients: [...entryScope.patients],
    });
  }
  return ok({ type, entries, scope, patientCompartment });
}
