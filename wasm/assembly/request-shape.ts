// The in-proxy view of a FHIR request line: the subset of authz/fhir (split-path.ts, route.ts) the decision table
// needs, with the same rules and the same invalid reasons, in the same order. What it cannot decide exactly is DEFER:
// a query string (its validity and patient scope are the service's), any byte outside ASCII, a percent-encoded
// byte outside ASCII, and every interaction the table does not key (create, update, patch, operations, Bundles).

export const SHAPE_VALID: i32 = 0;
export const SHAPE_INVALID: i32 = 1;
export const SHAPE_DEFER: i32 = 2;

export class Shape {
  constructor(
    public kind: i32,
    /** The table's interaction key (`read`, `search-type`, `compartment-search`, ...) or `invalid`. */
    public key: string,
    /** The resource type the cell is keyed on, or `*`. */
    public resourceType: string,
    /** The FHIR parser's invalid reason, for the OperationOutcome message. */
    public reason: string,
  ) {}
}

function defer(): Shape {
  return new Shape(SHAPE_DEFER, '', '', '');
}
function invalid(reason: string): Shape {
  return new Shape(SHAPE_INVALID, 'invalid', '*', reason);
}
function valid(key: string, resourceType: string): Shape {
  return new Shape(SHAPE_VALID, key, resourceType, '');
}

export class FhirTables {
  bases: string[][] = [];
  types: Set<string> = new Set<string>();
  lowerTypes: Set<string> = new Set<string>();
  compartments: Set<string> = new Set<string>();
}

function isControlOrSpace(c: i32): bool {
  return c <= 0x20 || c == 0x7f;
}

// RFC 3986 pchar plus `/` and `%`: A-Z a-z 0-9 - . _ ~ ! $ & ' ( ) * + , ; = : @ / %
function isPathChar(c: i32): bool {
  if ((c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)) return true;
  switch (c) {
    case 0x2d:
    case 0x2e:
    case 0x5f:
    case 0x7e:
    case 0x21:
    case 0x24:
    case 0x26:
    case 0x27:
    case 0x28:
    case 0x29:
    case 0x2a:
    case 0x2b:
    case 0x2c:
    case 0x3b:
    case 0x3d:
    case 0x3a:
    case 0x40:
    case 0x2f:
    case 0x25:
      return true;
  }
  return false;
}

function hexValue(c: i32): i32 {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (c >= 0x41 && c <= 0x46) return c - 0x41 + 10;
  if (c >= 0x61 && c <= 0x66) return c - 0x61 + 10;
  return -1;
}

// Segment decoding outcomes besides a string.
const DECODE_MALFORMED = '\u0000malformed';
const DECODE_DEFER = '\u0000defer';

/** decodeURIComponent for an ASCII segment: malformed `%`, or a decoded byte outside ASCII (DEFER). */
function decodeSegment(part: string): string {
  if (part.indexOf('%') < 0) return part;
  let out = '';
  for (let i = 0; i < part.length; i++) {
    const c = part.charCodeAt(i);
    if (c != 0x25) {
      out += String.fromCharCode(c);
      continue;
    }
    if (i + 2 >= part.length) return DECODE_MALFORMED;
    const h = hexValue(part.charCodeAt(i + 1));
    const l = hexValue(part.charCodeAt(i + 2));
    if (h < 0 || l < 0) return DECODE_MALFORMED;
    const v = h * 16 + l;
    // A non-ASCII byte starts or continues a UTF-8 sequence: which ones JavaScript accepts is the service's call.
    if (v >= 0x80) return DECODE_DEFER;
    out += String.fromCharCode(v);
    i += 2;
  }
  return out;
}

function isFhirId(s: string, max: i32): bool {
  if (s.length < 1 || s.length > max) return false;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x2d || c == 0x2e;
    if (!ok) return false;
  }
  return true;
}

// /^\$[A-Za-z][A-Za-z0-9_-]{0,63}$/
function isOperationName(s: string): bool {
  if (s.length < 2 || s.length > 65 || s.charCodeAt(0) != 0x24) return false;
  const c1 = s.charCodeAt(1);
  if (!((c1 >= 0x41 && c1 <= 0x5a) || (c1 >= 0x61 && c1 <= 0x7a))) return false;
  for (let i = 2; i < s.length; i++) {
    const c = s.charCodeAt(i);
    const ok =
      (c >= 0x41 && c <= 0x5a) || (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || c == 0x5f || c == 0x2d;
    if (!ok) return false;
  }
  return true;
}

function asciiLower(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    out += String.fromCharCode(c >= 0x41 && c <= 0x5a ? c + 32 : c);
  }
  return out;
}

/** '' when the type is known, else the invalid reason (route.ts checkType). */
function checkType(t: FhirTables, s: string): string {
  if (t.types.has(s)) return '';
  if (t.lowerTypes.has(asciiLower(s))) return 'wrong-case-resource-type';
  return 'unknown-resource-type';
}

const BAD = 'method-not-allowed-for-path';

function routeTop(t: FhirTables, method: string, segs: string[]): Shape {
  if (segs.length == 0) {
    if (method == 'GET') return valid('search-system', '*');
    if (method == 'POST') return defer(); // batch or transaction: decided by the Bundle body
    return invalid(BAD);
  }
  const s0 = segs[0];
  if (s0 == 'metadata') return method == 'GET' ? valid('capabilities', '*') : invalid(BAD);
  if (s0 == '_history') return method == 'GET' ? valid('history-system', '*') : invalid(BAD);
  if (s0 == '_search') return method == 'POST' ? defer() : invalid(BAD);
  if (s0.startsWith('$')) {
    if (!isOperationName(s0)) return invalid('invalid-operation-name');
    return method == 'GET' || method == 'POST' ? defer() : invalid(BAD);
  }
  const typeErr = checkType(t, s0);
  if (typeErr.length > 0) return invalid(typeErr);
  if (method == 'GET') return valid('search-type', s0);
  if (method == 'POST') return defer(); // create
  // Without a query, conditional update, patch and delete lack their criteria (the query case was deferred).
  if (method == 'PUT' || method == 'PATCH' || method == 'DELETE') return invalid('conditional-without-criteria');
  return invalid(BAD);
}

function routeType(method: string, rt: string, s1: string): Shape {
  if (s1 == '_search') return method == 'POST' ? defer() : invalid(BAD);
  if (s1 == '_history') return method == 'GET' ? valid('history-type', rt) : invalid(BAD);
  if (s1.startsWith('$')) {
    if (!isOperationName(s1)) return invalid('invalid-operation-name');
    return method == 'GET' || method == 'POST' ? defer() : invalid(BAD);
  }
  if (!isFhirId(s1, 64)) return invalid('invalid-id');
  if (method == 'GET') return valid('read', rt);
  if (method == 'DELETE') return valid('delete', rt);
  if (method == 'PUT' || method == 'PATCH') return defer(); // update, patch: bodies
  return invalid(BAD);
}

function routeInstance(t: FhirTables, method: string, rt: string, s2: string): Shape {
  if (s2 == '_history') return method == 'GET' ? valid('history-instance', rt) : invalid(BAD);
  if (s2.startsWith('$')) {
    if (!isOperationName(s2)) return invalid('invalid-operation-name');
    return method == 'GET' || method == 'POST' ? defer() : invalid(BAD);
  }
  if (!t.compartments.has(rt)) return invalid('not-a-compartment');
  if (s2 == '*') return method == 'GET' ? valid('compartment-search', rt + '/*') : invalid(BAD);
  const innerErr = checkType(t, s2);
  if (innerErr.length > 0) return invalid(innerErr);
  return method == 'GET' ? valid('compartment-search', rt + '/' + s2) : invalid(BAD);
}

function routeDeep(t: FhirTables, method: string, rt: string, s2: string, s3: string): Shape {
  if (s2 == '_history') {
    if (!isFhirId(s3, 64)) return invalid('invalid-version-id');
    return method == 'GET' ? valid('vread', rt) : invalid(BAD);
  }
  if (s3 == '_search' && t.compartments.has(rt)) {
    const innerErr = checkType(t, s2);
    if (innerErr.length > 0) return invalid(innerErr);
    return method == 'POST' ? defer() : invalid(BAD);
  }
  return invalid('unrecognized-path');
}

function route(t: FhirTables, methodIn: string, segs: string[]): Shape {
  const method = methodIn == 'HEAD' ? 'GET' : methodIn;
  if (!(method == 'GET' || method == 'POST' || method == 'PUT' || method == 'PATCH' || method == 'DELETE'))
    return invalid('unsupported-method');
  if (segs.length <= 1) return routeTop(t, method, segs);
  const s0 = segs[0];
  const typeErr = checkType(t, s0);
  if (typeErr.length > 0) return invalid(typeErr);
  const s1 = segs[1];
  if (segs.length == 2) return routeType(method, s0, s1);
  if (!isFhirId(s1, 64)) return invalid('invalid-id');
  if (segs.length == 3) return routeInstance(t, method, s0, segs[2]);
  if (segs.length == 4) return routeDeep(t, method, s0, segs[2], segs[3]);
  return invalid('unrecognized-path');
}

function matchBase(segs: string[], bases: string[][]): i32 {
  let best = -1;
  let bestLen = -1;
  for (let i = 0; i < bases.length; i++) {
    const b = bases[i];
    if (b.length > segs.length || b.length <= bestLen) continue;
    let same = true;
    for (let j = 0; j < b.length; j++) {
      if (segs[j] != b[j]) {
        same = false;
        break;
      }
    }
    if (same) {
      best = i;
      bestLen = b.length;
    }
  }
  return best;
}

/**
 * The shape of one request line. `path` is the raw `:path`; `hasOverride` tells whether a method-override header
 * was sent (the service marks that invalid after the base matched; the proxy defers it).
 */
export function requestShape(t: FhirTables, method: string, path: string, hasOverride: bool): Shape {
  for (let i = 0; i < path.length; i++) if (path.charCodeAt(i) >= 0x80) return defer();
  // split-path.ts, in its order.
  if (path.indexOf('#') >= 0) return invalid('fragment-in-path');
  const q = path.indexOf('?');
  const rawPath = q < 0 ? path : path.substring(0, q);
  const query = q < 0 ? '' : path.substring(q + 1);
  if (!rawPath.startsWith('/')) return invalid('path-not-absolute');
  for (let i = 0; i < path.length; i++)
    if (isControlOrSpace(path.charCodeAt(i))) return invalid('control-character-in-path');
  const lower = asciiLower(rawPath);
  if (lower.indexOf('%2f') >= 0 || lower.indexOf('%5c') >= 0) return invalid('encoded-slash');
  for (let i = 0; i < rawPath.length; i++)
    if (!isPathChar(rawPath.charCodeAt(i))) return invalid('invalid-character-in-path');
  const segs: string[] = [];
  if (rawPath != '/') {
    const parts = rawPath.substring(1).split('/');
    for (let i = 0; i < parts.length; i++) {
      const part = parts[i];
      if (part.length == 0) return invalid('empty-path-segment');
      const decoded = decodeSegment(part);
      if (decoded == DECODE_MALFORMED) return invalid('malformed-path-encoding');
      if (decoded == DECODE_DEFER) return defer();
      if (decoded == '.' || decoded == '..') return invalid('dot-segment');
      for (let j = 0; j < decoded.length; j++)
        if (isControlOrSpace(decoded.charCodeAt(j))) return invalid('control-character-in-path');
      segs.push(decoded);
    }
  }
  // parse-request.ts: base, then the query (deferred when not empty), then the route.
  const b = matchBase(segs, t.bases);
  if (b < 0) return defer();
  if (hasOverride) return defer();
  if (query.length > 0) return defer();
  return route(t, method, segs.slice(t.bases[b].length));
}
