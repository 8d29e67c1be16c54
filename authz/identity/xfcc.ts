/**
 * The client identity in Envoy's `x-forwarded-client-cert` header (XFCC; Envoy docs, HTTP header manipulation,
 * "x-forwarded-client-cert"): comma-separated elements, one per proxy hop, each of `;`-separated `Key=value` pairs
 * whose value may be double-quoted (`\"` and `\\` escaped inside). `URI` is the client certificate's URI SAN, given
 * once per SAN.
 *
 * Only a header the receiving sidecar itself sets is evidence (Istio: ProxyConfig
 * `proxyHeaders.forwardedClientCert: SANITIZE_SET`, which drops whatever the client sent and writes one element for
 * the peer it verified). A header with several elements (appended along a chain) or several URIs names no one here:
 * the caller is unidentified.
 */

/** The one URI SAN of a single-element XFCC header, or undefined. */
export function xfccPeerUri(header: string | undefined): string | undefined {
  if (header === undefined) return undefined;
  const elements = splitOutsideQuotes(header, ',');
  if (elements === undefined || elements.length !== 1) return undefined;
  const pairs = splitOutsideQuotes(elements[0] ?? '', ';');
  if (pairs === undefined) return undefined;
  const uris: string[] = [];
  for (const pair of pairs) {
    const eq = pair.indexOf('=');
    if (eq < 0) return undefined;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'uri') continue;
    const value = unquote(pair.slice(eq + 1).trim());
    if (value === undefined) return undefined;
    uris.push(value);
  }
  return uris.length === 1 && uris[0] !== '' ? uris[0] : undefined;
}

/** Splits at `sep` outside double quotes; undefined for an unterminated quote. */
function splitOutsideQuotes(s: string, sep: string): string[] | undefined {
  const parts: string[] = [];
  let start = 0;
  let quoted = false;
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (quoted && c === '\\') i++;
    else if (c === '"') quoted = !quoted;
    else if (!quoted && c === sep) {
      parts.push(s.slice(start, i));
      start = i + 1;
    }
  }
  if (quoted) return undefined;
  parts.push(s.slice(start));
  return parts;
}

/** A value as written: bare, or double-quoted with `\` escapes; undefined when malformed. */
function unquote(v: string): string | undefined {
  if (!v.startsWith('"')) return v.includes('"') ? undefined : v;
  if (v.length < 2 || !v.endsWith('"')) return undefined;
  let out = '';
  for (let i = 1; i < v.length - 1; i++) {
    const c = v[i];
    if (c === '\\') {
      i++;
      if (i >= v.length - 1) return undefined;
      out += v[i];
    } else if (c === '"') return undefined;
    else out += c;
  }
  return out;
}
