/**
 * Splits and validates a raw `:path` (Envoy sends it undecoded, query included).
 *
 * Hostile shapes are errors, never normalized into something harmless-looking: dot segments (RFC 3986 §5.2.4 would
 * remove them, and a server and a proxy may disagree on how), encoded slashes and backslashes (`%2F`, `%5C`), empty
 * segments, fragments, control characters and malformed percent-encoding.
 */
import { type Result, ok, err } from './result.js';

export interface SplitPath {
  /** The path part, still encoded. */
  rawPath: string;
  /** The query string without `?` (may be ""). */
  query: string;
  /** Whether a `?` was present. */
  hasQuery: boolean;
  /** Decoded path segments. */
  segments: string[];
}

// Printable ASCII minus space, `"`, `<`, `>`, `\`, `^`, backtick, `{`, `|`, `}` (RFC 3986 pchar + `/`, plus `%`).
const PATH_CHARS = /^[A-Za-z0-9\-._~!$&'()*+,;=:@/%]*$/;

/** True if any character is a C0 control, space or DEL (no regex: lint forbids control characters in patterns). */
function hasControlOrSpace(s: string): boolean {
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c <= 0x20 || c === 0x7f) return true;
  }
  return false;
}

export function splitPath(raw: string): Result<SplitPath> {
  if (raw.includes('#')) return err('fragment-in-path');
  const q = raw.indexOf('?');
  const rawPath = q === -1 ? raw : raw.slice(0, q);
  const query = q === -1 ? '' : raw.slice(q + 1);
  if (!rawPath.startsWith('/')) return err('path-not-absolute');
  if (hasControlOrSpace(raw)) return err('control-character-in-path');
  if (/%2f|%5c/i.test(rawPath)) return err('encoded-slash');
  if (!PATH_CHARS.test(rawPath)) return err('invalid-character-in-path');
  const parts = rawPath === '/' ? [] : rawPath.slice(1).split('/');
  const segments: string[] = [];
  for (const part of parts) {
    if (part === '') return err('empty-path-segment');
    let decoded = part;
    if (part.includes('%')) {
      try {
        decoded = decodeURIComponent(part);
      } catch {
        return err('malformed-path-encoding');
      }
    }
    if (decoded === '.' || decoded === '..') return err('dot-segment');
    if (hasControlOrSpace(decoded)) return err('control-character-in-path');
    segments.push(decoded);
  }
  return ok({ rawPath, query, hasQuery: q !== -1, segments });
}

/** Normalizes a configured base path (`/fhir/`, `fhir/R4`) to its segments. */
export function baseSegments(base: string): string[] {
  return base.split('/').filter((s) => s !== '');
}

/** Finds the longest configured base that prefixes `segments`; returns its index or -1. */
export function matchBase(segments: readonly string[], bases: readonly (readonly string[])[]): number {
  let best = -1;
  let bestLen = -1;
  bases.forEach((b, i) => {
    if (b.length <= segments.length && b.length > bestLen && b.every((s, j) => segments[j] === s)) {
      best = i;
      bestLen = b.length;
    }
  });
  return best;
}
