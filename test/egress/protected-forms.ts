/**
 * Every spelling of every protected endpoint, generated from one seed (deterministic: the same seed, the same forms).
 *
 * For each METADATA_ENDPOINTS address, each METADATA_HOSTS name and each in-cluster API server name, the forms a
 * resolver, a socket or Envoy reads as that endpoint:
 * - IPv4: one to four parts, each decimal, hex (`0x`/`0X`, any case, leading zeros) or octal (leading `0`s), with
 *   trailing dots (WHATWG URL §3.5 IPv4 parser, inet_aton(3));
 * - IPv4 inside IPv6: mapped `::ffff:0:0/96`, translated `::ffff:0:0:0/96`, compatible `::/96`, NAT64 `64:ff9b::/96`
 *   and `64:ff9b:1::/48` at /48, /56, /64, /96 (RFC 4291 §2.5.5, RFC 2765, RFC 6052 §2.2, RFC 8215);
 * - IPv6: any `::` placement, leading zeros, case, dotted last 32 bits (RFC 4291 §2.2), brackets, zone ids;
 * - names: case and trailing dots;
 * - as an `:authority`: ports, `[v6]:port`, userinfo, the unbracketed `v6:port` Envoy splits at the last colon;
 *   as a destination socket address: the address alone.
 */
import { METADATA_ENDPOINTS, METADATA_HOSTS } from '../../authz/index.js';
import type { HardDenyTarget } from '../../authz/egress/index.js';

/** mulberry32: a small seeded PRNG (no dependency), uniform in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Rng {
  int(n: number): number;
  pick<T>(xs: readonly T[]): T;
  chance(p: number): boolean;
}

function rngOf(seed: number): Rng {
  const next = prng(seed);
  const int = (n: number): number => Math.floor(next() * n);
  return {
    int,
    pick: <T>(xs: readonly T[]): T => xs[int(xs.length)] as T,
    chance: (p) => next() < p,
  };
}

const randomCase = (s: string, r: Rng): string =>
  [...s].map((c) => (r.chance(0.5) ? c.toUpperCase() : c.toLowerCase())).join('');

/** One IPv4 number in decimal, hex or octal (WHATWG IPv4 number parser, inet_aton radixes). */
function ipv4Number(n: number, r: Rng): string {
  switch (r.int(3)) {
    case 0:
      return String(n);
    case 1:
      return `0${r.pick(['x', 'X'])}${'0'.repeat(r.int(3))}${randomCase(n.toString(16), r)}`;
    default:
      return `0${'0'.repeat(r.int(2))}${n.toString(8)}`;
  }
}

/** An IPv4 address as one to four parts; the last part fills the remaining bytes. */
function ipv4Literal(v: number, r: Rng): string {
  const b = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  const count = 1 + r.int(4);
  const parts =
    count === 4
      ? b
      : count === 3
        ? [b[0] ?? 0, b[1] ?? 0, (v & 0xffff) >>> 0]
        : count === 2
          ? [b[0] ?? 0, (v & 0xffffff) >>> 0]
          : [v >>> 0];
  return parts.map((p) => ipv4Number(p, r)).join('.') + '.'.repeat(r.chance(0.2) ? 1 + r.int(2) : 0);
}

const dotted = (v: number): string => `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;

/** An IPv6 address as RFC 4291 §2.2 text: leading zeros, case, `::` over any run of zero groups, dotted tail. */
function ipv6Literal(groups: readonly number[], r: Rng): string {
  const dottedTail = r.chance(0.3);
  const hexCount = dottedTail ? 6 : 8;
  const pieces = groups
    .slice(0, hexCount)
    .map((g) => randomCase('0'.repeat(r.int(4 - g.toString(16).length + 1)) + g.toString(16), r));
  const runs: Array<[number, number]> = [];
  for (let i = 0; i < hexCount; i++) for (let j = i; j < hexCount && groups[j] === 0; j++) runs.push([i, j + 1]);
  const tail = dottedTail ? [dotted(((groups[6] ?? 0) << 16) | (groups[7] ?? 0))] : [];
  if (runs.length === 0 || r.chance(0.25)) return [...pieces, ...tail].join(':');
  const [from, to] = r.pick(runs);
  const head = pieces.slice(0, from).join(':');
  const rest = [...pieces.slice(to), ...tail].join(':');
  return `${head}::${rest}`;
}

/** The groups of an IPv6 address that carries IPv4 address `v`, in one of the embeddings. */
function embeddingOf(v: number, r: Rng): number[] {
  const hi = v >>> 16;
  const lo = v & 0xffff;
  const [o1, o2, o3, o4] = [v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255];
  const layouts = [
    [0, 0, 0, 0, 0, 0xffff, hi, lo], // mapped
    [0, 0, 0, 0, 0xffff, 0, hi, lo], // translated
    [0, 0, 0, 0, 0, 0, hi, lo], // compatible
    [0x64, 0xff9b, 0, 0, 0, 0, hi, lo], // NAT64 well-known prefix
    [0x64, 0xff9b, 1, hi, o3, o4 << 8, 0, 0], // local-use /48
    [0x64, 0xff9b, 1, o1, o2, (o3 << 8) | o4, 0, 0], // local-use /56
    [0x64, 0xff9b, 1, 0, o1, (o2 << 8) | o3, o4 << 8, 0], // local-use /64
    [0x64, 0xff9b, 1, 0, 0, 0, hi, lo], // local-use /96
  ];
  return r.pick(layouts);
}

function groupsOf(address: string): number[] {
  const [head = '', tail = ''] = address.split('::');
  const h = head === '' ? [] : head.split(':').map((x) => parseInt(x, 16));
  const t = tail === '' ? [] : tail.split(':').map((x) => parseInt(x, 16));
  return [...h, ...new Array<number>(8 - h.length - t.length).fill(0), ...t];
}

export interface ProtectedForm {
  /** The text as sent. */
  text: string;
  /** Where it goes: the `:authority`, or the destination socket address. */
  place: 'authority' | 'destination';
  target: HardDenyTarget;
  /** The entry it spells. */
  of: string;
}

const API_SERVER_NAMES = [
  'kubernetes',
  'kubernetes.default',
  'kubernetes.default.svc',
  'kubernetes.default.svc.cluster.local',
];

/** An address in a place: ports, brackets, zone ids and userinfo where that place allows them. */
function placed(address: string, v6: boolean, r: Rng): { text: string; place: ProtectedForm['place'] } {
  const zone = v6 && r.chance(0.2) ? r.pick(['%eth0', '%25eth0', '%1']) : '';
  if (r.chance(0.3)) return { text: v6 && r.chance(0.5) ? `[${address}${zone}]` : address, place: 'destination' };
  const port = r.chance(0.5) ? `:${r.pick(['80', '443', '8080', '0080', '65535'])}` : '';
  const userinfo = r.chance(0.1) ? 'agent@' : '';
  if (!v6) return { text: `${userinfo}${address}${port}`, place: 'authority' };
  // Unbracketed with a port: Envoy's parseAuthority splits the last colon off (the address part must not end in a
  // group that would make the whole text an address too, which the canonical reading then also checks).
  if (port !== '' && zone === '' && r.chance(0.15)) return { text: `${address}${port}`, place: 'authority' };
  return { text: `${userinfo}[${address}${zone}]${port}`, place: 'authority' };
}

/**
 * The forms, `perEntry` for each protected entry.
 *
 * @param seed - the PRNG seed
 * @param perEntry - forms per address or name
 */
export function protectedForms(seed: number, perEntry: number): ProtectedForm[] {
  const r = rngOf(seed);
  const out: ProtectedForm[] = [];
  for (const m of METADATA_ENDPOINTS) {
    const address = m.cidr.slice(0, m.cidr.indexOf('/'));
    const v6 = address.includes(':');
    const v4 = v6 ? 0 : address.split('.').reduce((acc, o) => acc * 256 + Number(o), 0);
    for (let i = 0; i < perEntry; i++) {
      const asV6 = v6 || r.chance(0.4);
      const literal = !asV6 ? ipv4Literal(v4, r) : ipv6Literal(v6 ? groupsOf(address) : embeddingOf(v4, r), r);
      out.push({ ...placed(literal, asV6, r), target: m.target, of: m.cidr });
    }
  }
  const names: Array<[string, HardDenyTarget]> = [
    ...[...METADATA_HOSTS].map((n): [string, HardDenyTarget] => [n, 'instance-metadata']),
    ...API_SERVER_NAMES.map((n): [string, HardDenyTarget] => [n, 'kube-apiserver']),
  ];
  for (const [name, target] of names)
    for (let i = 0; i < Math.ceil(perEntry / 4); i++) {
      const dots = '.'.repeat(r.chance(0.5) ? 1 + r.int(2) : 0);
      const port = r.chance(0.5) ? `:${r.pick(['80', '443'])}` : '';
      out.push({ text: `${randomCase(name, r)}${dots}${port}`, place: 'authority', target, of: name });
    }
  return out;
}
