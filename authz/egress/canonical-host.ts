/**
 * One reading of hosts and addresses, shared by the egress lane, the envelope recorder, the Cilium generator and
 * `phiguard check`: an `:authority`, a socket address or a recorded host becomes a lower-case DNS name, a dotted-quad
 * IPv4 address or an RFC 5952 IPv6 address, whatever spelling it arrived in. A protected address written as
 * `2852039166`, `0xA9FEA9FE`, `[::ffff:a9fe:a9fe]:80` or `64:ff9b::169.254.169.254` is the address a resolver or a
 * socket reaches, so it is matched as that address.
 *
 * Readings:
 * - IPv4: every literal the WHATWG URL host parser (https://url.spec.whatwg.org/#concept-ipv4-parser, §3.5) or
 *   inet_aton(3) accepts: one to four parts, each decimal, hex (`0x`) or octal (leading `0`); the last part fills the
 *   remaining bytes (`169.16689662`). A host whose last label is a number but which is no IPv4 address
 *   (`1.2.3.4.5`, `08.1.1.1`, `99999999999`) is `invalid`, as in WHATWG ("ends in a number" checker).
 * - IPv6: every textual form of RFC 4291 §2.2 (leading zeros, `::`, any case, dotted IPv4 in the last 32 bits),
 *   with or without brackets, zone id (RFC 4007 §11, RFC 6874 `%25`) dropped, written in RFC 5952 form. The IPv4
 *   address an IPv6 address carries is kept beside it (`embedded`): IPv4-mapped `::ffff:0:0/96` (RFC 4291 §2.5.5.2),
 *   IPv4-translated `::ffff:0:0:0/96` (RFC 2765 §2.1), IPv4-compatible `::/96` (RFC 4291 §2.5.5.1, deprecated;
 *   `::` and `::1` excluded) and NAT64 (RFC 6052 §2.2): the well-known prefix `64:ff9b::/96` and the local-use
 *   prefix `64:ff9b:1::/48` (RFC 8215) read at each prefix length RFC 6052 allows within it (48, 56, 64, 96).
 * - Names: percent-decoded and mapped to ASCII (UTS #46) as WHATWG host parsing does, lower-cased, trailing dots
 *   dropped (`METADATA.GOOGLE.INTERNAL.` is `metadata.google.internal`).
 * - Authorities: userinfo dropped (RFC 3986 §3.2), `host:port` and `[v6]:port`; an unbracketed IPv6 address with a
 *   port-like last group is read both ways (`::ffff:a9fe:a9fe:80` is an address, and Envoy's authority parser reads
 *   `::ffff:a9fe:a9fe` port 80), the second as `alternate`.
 *
 * Pure: no I/O, never throws.
 */
import { domainToASCII } from 'node:url';

/** A host as a resolver or a socket reads it. `host` is its canonical text (no brackets, no port). */
export type CanonicalHost =
  | { kind: 'none'; host: '' }
  | { kind: 'name'; host: string }
  | { kind: 'ipv4'; host: string; value: number }
  | { kind: 'ipv6'; host: string; groups: readonly number[]; mapped: boolean; embedded: readonly string[] }
  | { kind: 'invalid'; host: string };

/** An authority read as host and explicit port; `alternate` is the other reading of an ambiguous one. */
export interface CanonicalAuthority {
  host: CanonicalHost;
  port: number | undefined;
  alternate: CanonicalHost | undefined;
}

const NONE: CanonicalHost = { kind: 'none', host: '' };

const invalid = (text: string): CanonicalHost => ({ kind: 'invalid', host: text.toLowerCase() });

/** Dotted-quad text of a 32-bit IPv4 value. */
export function ipv4Text(v: number): string {
  return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
}

/** One part of an IPv4 literal (WHATWG "IPv4 number parser"; inet_aton(3) reads the same radixes). */
function ipv4Number(part: string): number | undefined {
  if (part === '') return undefined;
  let digits = part;
  let radix = 10;
  if (part.startsWith('0x') || part.startsWith('0X')) {
    digits = part.slice(2);
    radix = 16;
  } else if (part.length > 1 && part.startsWith('0')) {
    digits = part.slice(1);
    radix = 8;
  }
  if (digits === '') return 0;
  const valid = radix === 16 ? /^[0-9a-fA-F]+$/ : radix === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  return valid.test(digits) ? parseInt(digits, radix) : undefined;
}

/**
 * An IPv4 literal's value; `undefined` when the text does not end in a number (a name); `'invalid'` when it does
 * but is no IPv4 literal (WHATWG IPv4 parser failure).
 */
function parseIpv4(text: string): number | 'invalid' | undefined {
  const last = text.slice(text.lastIndexOf('.') + 1);
  if (!/^[0-9]+$/.test(last) && ipv4Number(last) === undefined) return undefined;
  const parts = text.split('.');
  if (parts.length > 4) return 'invalid';
  const numbers: number[] = [];
  for (const p of parts) {
    const n = ipv4Number(p);
    if (n === undefined) return 'invalid';
    numbers.push(n);
  }
  const tail = numbers.pop() ?? 0;
  if (numbers.some((n) => n > 255) || tail >= 256 ** (4 - numbers.length)) return 'invalid';
  return numbers.reduce((acc, n, i) => acc + n * 256 ** (3 - i), tail);
}

/** RFC 4291 §2.2 form 3: the last 32 bits as strict dotted decimal (no leading zeros, as inet_pton(3)). */
function dottedDecimal(text: string): number | undefined {
  const m = /^(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})\.(0|[1-9]\d{0,2})$/.exec(text);
  if (!m) return undefined;
  const bytes = m.slice(1).map(Number);
  if (bytes.some((b) => b > 255)) return undefined;
  return bytes.reduce((acc, b) => acc * 256 + b, 0);
}

/** The 16-bit groups of one side of `::`; a dotted IPv4 address only as the last piece of the address. */
function groupsOf(text: string, last: boolean): number[] | undefined {
  if (text === '') return [];
  const out: number[] = [];
  const pieces = text.split(':');
  for (const [i, p] of pieces.entries()) {
    if (last && i === pieces.length - 1 && p.includes('.')) {
      const v4 = dottedDecimal(p);
      if (v4 === undefined) return undefined;
      out.push(v4 >>> 16, v4 & 0xffff);
    } else if (/^[0-9a-fA-F]{1,4}$/.test(p)) out.push(parseInt(p, 16));
    else return undefined;
  }
  return out;
}

/** The eight groups of an IPv6 address in any RFC 4291 §2.2 text form (zone id already removed). */
function parseIpv6(text: string): number[] | undefined {
  const halves = text.split('::');
  if (halves.length > 2) return undefined;
  const head = groupsOf(halves[0] ?? '', halves.length === 1);
  const tail = halves.length === 2 ? groupsOf(halves[1] ?? '', true) : [];
  if (head === undefined || tail === undefined) return undefined;
  if (halves.length === 1) return head.length === 8 ? head : undefined;
  if (head.length + tail.length > 7) return undefined;
  return [...head, ...new Array<number>(8 - head.length - tail.length).fill(0), ...tail];
}

const zeros = (g: readonly number[], from: number, to: number): boolean => g.slice(from, to).every((x) => x === 0);
const v4From = (hi: number, lo: number): number => (hi * 0x10000 + lo) >>> 0;

/** Whether the address carries its IPv4 address in the last 32 bits and is written so (RFC 5952 §5). */
function mixedNotation(g: readonly number[]): boolean {
  const mapped = zeros(g, 0, 5) && g[5] === 0xffff;
  const translated = zeros(g, 0, 4) && g[4] === 0xffff && g[5] === 0;
  const nat64 = g[0] === 0x64 && g[1] === 0xff9b && zeros(g, 2, 6);
  return mapped || translated || nat64;
}

/**
 * The IPv4 addresses an IPv6 address carries: mapped, translated, compatible, NAT64 well-known and local-use
 * prefixes (RFC 6052 §2.2: the octet at bits 64-71 is zero; the IPv4 bits skip it).
 */
function embeddedIpv4(g: readonly number[]): number[] {
  const [g0 = 0, g1 = 0, g2 = 0, g3 = 0, g4 = 0, g5 = 0, g6 = 0, g7 = 0] = g;
  const low = v4From(g6, g7);
  if (mixedNotation(g)) return [low];
  if (zeros(g, 0, 6)) return low > 1 ? [low] : [];
  if (g0 !== 0x64 || g1 !== 0xff9b || g2 !== 1 || g4 >>> 8 !== 0) return [];
  return [
    v4From(g3, ((g4 & 0xff) << 8) | (g5 >>> 8)), // /48
    (((g3 & 0xff) << 24) | ((g4 & 0xff) << 16) | g5) >>> 0, // /56
    v4From(((g4 & 0xff) << 8) | (g5 >>> 8), ((g5 & 0xff) << 8) | (g6 >>> 8)), // /64
    low, // /96
  ];
}

/** RFC 5952 §4: lower case, no leading zeros, the longest run (first of equals) of two or more zero groups as `::`. */
export function ipv6Text(g: readonly number[]): string {
  const mixed = mixedNotation(g);
  const hex = (mixed ? g.slice(0, 6) : g).map((x) => x.toString(16));
  let best = { at: -1, len: 1 };
  for (let i = 0; i < hex.length;) {
    let j = i;
    while (j < hex.length && hex[j] === '0') j++;
    if (j - i > best.len) best = { at: i, len: j - i };
    i = j > i ? j : i + 1;
  }
  if (mixed) hex.push(ipv4Text(v4From(g[6] ?? 0, g[7] ?? 0)));
  if (best.at < 0) return hex.join(':');
  const head = hex.slice(0, best.at).join(':');
  const tail = hex.slice(best.at + best.len).join(':');
  return `${head}::${tail}`;
}

/** An IPv6 literal (brackets already removed); the zone id is not part of the address. */
function ipv6Host(text: string): CanonicalHost {
  const zone = text.indexOf('%');
  const g = parseIpv6(zone >= 0 ? text.slice(0, zone) : text);
  if (g === undefined) return invalid(text);
  const mapped = zeros(g, 0, 5) && g[5] === 0xffff;
  return { kind: 'ipv6', host: ipv6Text(g), groups: g, mapped, embedded: embeddedIpv4(g).map(ipv4Text) };
}

/** WHATWG host parsing of a non-IPv6 host: percent-decode, UTS #46 to ASCII, lower case, then IPv4 or a name. */
function nameOrIpv4(text: string): CanonicalHost {
  let h = text;
  if (h.includes('%')) {
    try {
      h = decodeURIComponent(h);
    } catch {
      return invalid(text);
    }
  }
  // eslint-disable-next-line no-control-regex
  if (/[^\x00-\x7f]/.test(h)) h = domainToASCII(h);
  h = h.toLowerCase();
  // WHATWG forbidden domain code points (spaces are read below, as inet_aton reads them).
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x08\x0e-\x1f#%/:<>?@[\\\]^|\x7f]/.test(h)) return invalid(text);
  // inet_aton(3) in glibc before 2.32 (getaddrinfo included) reads `1.2.3.4 anything` as 1.2.3.4.
  const space = h.search(/[\s]/);
  if (space >= 0) {
    const v = parseIpv4(h.slice(0, space).replace(/\.+$/, ''));
    return typeof v === 'number' ? { kind: 'ipv4', host: ipv4Text(v), value: v } : invalid(text);
  }
  h = h.replace(/\.+$/, '');
  if (h === '') return invalid(text);
  const v = parseIpv4(h);
  if (v === 'invalid') return invalid(h);
  return v === undefined ? { kind: 'name', host: h } : { kind: 'ipv4', host: ipv4Text(v), value: v };
}

/** A lower-case name of DNS characters, without a trailing dot. */
const PLAIN_NAME = /^[a-z0-9_-]+(?:\.[a-z0-9_-]+)*$/;
/** A label WHATWG reads as a number ("ends in a number" checker). */
const NUMBER_LABEL = /^(?:[0-9]+|0x[0-9a-f]*)$/;

/** The value of dotted decimal without leading zeros (four bytes, already canonical text), else undefined. */
function dottedQuad(text: string): number | undefined {
  let value = 0;
  let byte = 0;
  let digits = 0;
  let dots = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 46 /* . */) {
      if (digits === 0 || ++dots > 3) return undefined;
      value = value * 256 + byte;
      byte = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57 && !(digits === 1 && byte === 0)) {
      byte = byte * 10 + c - 48;
      if (++digits > 3 || byte > 255) return undefined;
    } else return undefined;
  }
  return dots === 3 && digits > 0 ? value * 256 + byte : undefined;
}

/**
 * The Check path's common hosts, already in canonical text (`fhir.hospital.internal`, `10.8.9.4`): read without the
 * general parser. Undefined for anything else.
 */
function canonicalAlready(text: string): CanonicalHost | undefined {
  if (text === '') return NONE;
  const v = dottedQuad(text);
  if (v !== undefined) return { kind: 'ipv4', host: text, value: v };
  if (!PLAIN_NAME.test(text) || NUMBER_LABEL.test(text.slice(text.lastIndexOf('.') + 1))) return undefined;
  return { kind: 'name', host: text };
}

/**
 * Reads a host (no port): a name, an IPv4 literal in any form, an IPv6 literal with or without brackets.
 *
 * @param text - the host as written (`2852039166`, `[FD00:EC2::254%eth0]`, `Metadata.Google.Internal.`)
 * @returns its canonical reading; `none` for an empty host; `invalid` for what no resolver reads. Never throws.
 */
export function canonicalHost(text: string): CanonicalHost {
  const fast = canonicalAlready(text);
  if (fast !== undefined) return fast;
  const h = text.trim();
  if (h === '') return NONE;
  if (h.startsWith('[') && h.endsWith(']')) return ipv6Host(h.slice(1, -1));
  if (h.includes(':')) return ipv6Host(h);
  if (h.includes('[') || h.includes(']')) return invalid(h);
  return nameOrIpv4(h);
}

/** An explicit port: digits up to 65535; an empty port is no port (RFC 3986 §3.2.3). */
function portOf(text: string): number | 'invalid' | undefined {
  if (text === '') return undefined;
  if (!/^\d{1,5}$/.test(text)) return 'invalid';
  const n = Number(text);
  return n <= 65535 ? n : 'invalid';
}

/**
 * Reads an HTTP `:authority` (or Host header): `host`, `host:port`, `[v6]:port`, userinfo dropped.
 *
 * @param authority - the authority as received
 * @returns the host's canonical reading, the explicit port if any, and the other reading of an unbracketed IPv6
 *   address with a port-like last group. Never throws.
 */
export function canonicalAuthority(authority: string): CanonicalAuthority {
  const trimmed = authority.trim();
  const at = trimmed.lastIndexOf('@');
  const a = at < 0 ? trimmed : trimmed.slice(at + 1);
  if (a.startsWith('[')) return bracketed(a);
  const colon = a.lastIndexOf(':');
  if (colon < 0) return { host: canonicalHost(a), port: undefined, alternate: undefined };
  const port = portOf(a.slice(colon + 1));
  const head = a.slice(0, colon);
  if (!head.includes(':'))
    return port === 'invalid'
      ? { host: invalid(a), port: undefined, alternate: undefined }
      : { host: canonicalHost(head), port, alternate: undefined };
  // Unbracketed IPv6: the whole text as an address, and Envoy's reading (last colon splits off a port).
  const whole = ipv6Host(a);
  const split = port !== 'invalid' ? ipv6Host(head) : undefined;
  const splitHost = split?.kind === 'ipv6' ? split : undefined;
  if (whole.kind === 'ipv6') return { host: whole, port: undefined, alternate: splitHost };
  return splitHost !== undefined && port !== 'invalid'
    ? { host: splitHost, port, alternate: undefined }
    : { host: invalid(a), port: undefined, alternate: undefined };
}

/** `[v6]` or `[v6]:port`. */
function bracketed(a: string): CanonicalAuthority {
  const end = a.indexOf(']');
  const rest = end < 0 ? 'x' : a.slice(end + 1);
  const port = rest === '' ? undefined : rest.startsWith(':') ? portOf(rest.slice(1)) : 'invalid';
  return port === 'invalid'
    ? { host: invalid(a), port: undefined, alternate: undefined }
    : { host: ipv6Host(a.slice(1, end)), port, alternate: undefined };
}

/** The address texts a host is matched by: its own, and every IPv4 address it carries. Names match by name. */
export function addressKeys(h: CanonicalHost): readonly string[] {
  return h.kind === 'ipv6' && h.embedded.length > 0 ? [h.host, ...h.embedded] : [h.host];
}

/** A CIDR block (`10.0.0.0/8`, `fd00:ec2::254/128`), its address read as canonicalHost reads one. */
export type Cidr =
  | { family: 4; value: number; bits: number; text: string }
  | { family: 6; groups: readonly number[]; bits: number; text: string };

/**
 * Reads a CIDR block; a bare address is its own /32 or /128.
 *
 * @returns the block with its canonical text (`fd00:ec2::254/128`), or undefined when it is none. Never throws.
 */
export function parseCidr(text: string): Cidr | undefined {
  const slash = text.indexOf('/');
  const h = canonicalHost(slash < 0 ? text : text.slice(0, slash));
  const bitsText = slash < 0 ? undefined : text.slice(slash + 1);
  if (bitsText !== undefined && !/^\d{1,3}$/.test(bitsText)) return undefined;
  if (h.kind === 'ipv4') {
    const bits = bitsText === undefined ? 32 : Number(bitsText);
    return bits <= 32 ? { family: 4, value: h.value, bits, text: `${h.host}/${bits}` } : undefined;
  }
  if (h.kind !== 'ipv6') return undefined;
  const bits = bitsText === undefined ? 128 : Number(bitsText);
  return bits <= 128 ? { family: 6, groups: h.groups, bits, text: `${h.host}/${bits}` } : undefined;
}

function prefixMatches(a: readonly number[], b: readonly number[], bits: number, width: number): boolean {
  for (let i = 0, left = bits; left > 0; i++, left -= width) {
    const take = Math.min(width, left);
    const shift = width - take;
    if ((a[i] ?? 0) >>> shift !== (b[i] ?? 0) >>> shift) return false;
  }
  return true;
}

/**
 * Whether a block holds an address. An IPv4-mapped IPv6 address (RFC 4291 §2.5.5.2) is its IPv4 address on a
 * dual-stack socket, so an IPv4 block holds it too.
 */
export function cidrContains(cidr: Cidr, h: CanonicalHost): boolean {
  if (cidr.family === 6) return h.kind === 'ipv6' && prefixMatches(cidr.groups, h.groups, cidr.bits, 16);
  const v4 =
    h.kind === 'ipv4' ? h.value : h.kind === 'ipv6' && h.mapped ? v4From(h.groups[6] ?? 0, h.groups[7] ?? 0) : -1;
  return v4 >= 0 && prefixMatches([cidr.value], [v4], cidr.bits, 32);
}

/** Whether the block `outer` holds every address of the block `inner` (same family, no longer prefix). */
export function cidrCovers(outer: Cidr, inner: Cidr): boolean {
  if (outer.bits > inner.bits) return false;
  if (outer.family === 4) return inner.family === 4 && prefixMatches([outer.value], [inner.value], outer.bits, 32);
  return inner.family === 6 && prefixMatches(outer.groups, inner.groups, outer.bits, 16);
}
