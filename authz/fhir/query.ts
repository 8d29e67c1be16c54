/**
 * application/x-www-form-urlencoded parsing for FHIR search (R4 search.html#Introduction: GET query strings and
 * POST [base]/[type]/_search form bodies use the same encoding).
 */
import { type Result, ok, err } from './result.js';

/** Search parameters in request order: name (with modifiers, chains) -> every value given, decoded. */
export type SearchParams = Map<string, string[]>;

function decodeComponent(s: string): string | undefined {
  if (!s.includes('%') && !s.includes('+')) return s;
  try {
    return decodeURIComponent(s.replace(/\+/g, ' '));
  } catch {
    return undefined;
  }
}

/** Parses a query string (without the leading `?`). Malformed percent-encoding is an error, not a guess. */
export function parseQuery(query: string): Result<SearchParams> {
  const params: SearchParams = new Map();
  if (query === '') return ok(params);
  for (const part of query.split('&')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    const rawName = eq === -1 ? part : part.slice(0, eq);
    const rawValue = eq === -1 ? '' : part.slice(eq + 1);
    const name = decodeComponent(rawName);
    const value = decodeComponent(rawValue);
    if (name === undefined || value === undefined) return err('malformed-query-encoding');
    if (name === '') return err('empty-query-parameter-name');
    const list = params.get(name);
    if (list) list.push(value);
    else params.set(name, [value]);
  }
  return ok(params);
}

/** Merges b into a (POST _search: query string and form body both carry parameters, R4 http.html#search). */
export function mergeParams(a: SearchParams, b: SearchParams): SearchParams {
  const out: SearchParams = new Map(a);
  for (const [k, v] of b) out.set(k, [...(out.get(k) ?? []), ...v]);
  return out;
}
