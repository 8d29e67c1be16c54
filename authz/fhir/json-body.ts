/**
 * A request body as FHIR JSON, or the reason it is not one. A body phiguard cannot read the way the server will
 * (another content type, truncated by Envoy, duplicate keys) leaves patient scope unresolved; it never yields a
 * partial list of patients.
 */

/** Media types read as JSON (R4 http.html#mime; RFC 6902 for JSON Patch). */
export const JSON_TYPES: ReadonlySet<string> = new Set([
  'application/fhir+json',
  'application/json',
  'application/json-patch+json',
]);

export type BodyView =
  | { readonly kind: 'none' }
  | { readonly kind: 'incomplete' }
  | { readonly kind: 'not-json' }
  /** Parsed, but a key appears twice: `value` is what JSON.parse kept, not necessarily what the server reads. */
  | { readonly kind: 'duplicate-keys'; readonly value: unknown }
  | { readonly kind: 'json'; readonly value: unknown; readonly mediaType: string };

export const NO_BODY: BodyView = { kind: 'none' };

export function mediaTypeOf(contentType: string | undefined): string {
  return (contentType ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** The unresolved reason a non-JSON body view stands for. */
export function bodyReason(view: BodyView): string | undefined {
  switch (view.kind) {
    case 'none':
      return 'body-not-available';
    case 'incomplete':
      return 'body-incomplete';
    case 'not-json':
      return 'body-not-json';
    case 'duplicate-keys':
      return 'duplicate-json-key';
    case 'json':
      return undefined;
  }
}

/** Reads a body; `undefined` text is a body Envoy did not forward. An unparsable JSON body is an error. */
export function readJsonBody(
  text: string | undefined,
  contentType: string | undefined,
  truncated: boolean,
): { ok: true; view: BodyView } | { ok: false; error: string } {
  if (truncated) return { ok: true, view: { kind: 'incomplete' } };
  if (text === undefined || text.length === 0) return { ok: true, view: NO_BODY };
  const mediaType = mediaTypeOf(contentType);
  if (!JSON_TYPES.has(mediaType)) return { ok: true, view: { kind: 'not-json' } };
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, error: 'unparsable-body' };
  }
  if (hasDuplicateKeys(text)) return { ok: true, view: { kind: 'duplicate-keys', value } };
  return { ok: true, view: { kind: 'json', value, mediaType } };
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const COLON = 0x3a;
const OPEN_OBJECT = 0x7b;
const CLOSE_OBJECT = 0x7d;
const OPEN_ARRAY = 0x5b;
const CLOSE_ARRAY = 0x5d;

function isSpace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

/** The keys of one open object: a short list, a Set past 16 keys (so a hostile 100,000-key object stays linear). */
class KeySet {
  private list: string[] = [];
  private set: Set<string> | undefined;
  /** False when the key was already there. */
  add(key: string): boolean {
    if (this.set !== undefined) {
      if (this.set.has(key)) return false;
      this.set.add(key);
      return true;
    }
    if (this.list.includes(key)) return false;
    this.list.push(key);
    if (this.list.length > 16) this.set = new Set(this.list);
    return true;
  }
}

/** The index of the closing quote of the string whose opening quote is at `start`. `text` is valid JSON. */
function stringEnd(text: string, start: number): number {
  let i = start + 1;
  for (;;) {
    const q = text.indexOf('"', i);
    if (q === -1) return text.length;
    let b = q - 1;
    while (b > start && text.charCodeAt(b) === BACKSLASH) b--;
    if ((q - 1 - b) % 2 === 0) return q;
    i = q + 1;
  }
}

/**
 * Whether any JSON object in `text` names a key twice (RFC 8259 §4: "the names within an object SHOULD be unique";
 * parsers differ on which value wins, so a server may read the one JSON.parse dropped). Keys are compared decoded:
 * `"subject"` and `"\u0073ubject"` are the same key. Linear; `text` must be valid JSON.
 */
export function hasDuplicateKeys(text: string): boolean {
  const open: (KeySet | undefined)[] = [];
  const n = text.length;
  let i = 0;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === QUOTE) {
      const end = stringEnd(text, i);
      let j = end + 1;
      while (j < n && isSpace(text.charCodeAt(j))) j++;
      const keys = open[open.length - 1];
      if (keys !== undefined && text.charCodeAt(j) === COLON) {
        const raw = text.slice(i + 1, end);
        const key = raw.includes('\\') ? (JSON.parse(`"${raw}"`) as string) : raw;
        if (!keys.add(key)) return true;
      }
      i = j;
      continue;
    }
    if (c === OPEN_OBJECT) open.push(new KeySet());
    else if (c === OPEN_ARRAY) open.push(undefined);
    else if (c === CLOSE_OBJECT || c === CLOSE_ARRAY) open.pop();
    i++;
  }
  return false;
}
