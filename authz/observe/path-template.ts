/**
 * Generalizes request paths into templates so envelopes stay small and carry no identifiers:
 * FHIR paths from the parsed model (`/fhir/Observation/{id}`), other paths by replacing id-like segments.
 */
import type { FhirAttributes } from '../model/index.js';

const ID_LIKE =
  /^(?:\d+(?:\.\d+)*|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}|[0-9a-f]{16,}|(?=[A-Za-z0-9_-]*\d)[A-Za-z0-9_-]{20,})$/i;

export function fhirPathTemplate(f: FhirAttributes): string {
  const parts = [f.base === '/' ? '' : f.base];
  if (f.compartment.type !== '') parts.push(f.compartment.type, '{id}');
  if (f.resourceType !== '') parts.push(f.resourceType);
  if (f.id !== '' && f.compartment.type === '') parts.push('{id}');
  switch (f.interaction) {
    case 'vread':
      parts.push('_history', '{vid}');
      break;
    case 'history-instance':
    case 'history-type':
    case 'history-system':
      parts.push('_history');
      break;
    case 'capabilities':
      parts.push('metadata');
      break;
    default:
      break;
  }
  if (f.operation !== '') parts.push(f.operation);
  const p = parts.join('/');
  return p === '' ? '/' : p.startsWith('/') ? p : `/${p}`;
}

export function genericPathTemplate(path: string): string {
  const clean = path.split('?')[0] ?? '';
  const segs = clean.split('/').map((s) => (ID_LIKE.test(s) ? '{id}' : s));
  return segs.join('/') || '/';
}
