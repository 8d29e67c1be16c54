/**
 * The one reading of hosts and addresses (authz/egress/canonical-host.ts): the conformance table
 * (host-forms.cases.yaml), agreement with the WHATWG URL host parser Node implements on generated IPv4 and IPv6
 * literals, RFC 5952 text, and CIDR blocks.
 */
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from '@jest/globals';
import yaml from 'js-yaml';
import { z } from 'zod';
import {
  canonicalAuthority,
  canonicalHost,
  cidrContains,
  cidrCovers,
  parseCidr,
  type CanonicalHost,
} from '../../authz/egress/index.js';
import { prng } from './protected-forms.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const Kind = z.enum(['none', 'name', 'ipv4', 'ipv6', 'invalid']);
const Cases = z.object({
  hosts: z.array(
    z
      .object({
        input: z.string(),
        kind: Kind,
        host: z.string().optional(),
        embedded: z.array(z.string()).optional(),
      })
      .strict(),
  ),
  authorities: z.array(
    z
      .object({
        input: z.string(),
        kind: Kind.optional(),
        host: z.string().optional(),
        port: z.number().optional(),
        alternate: z.string().optional(),
      })
      .strict(),
  ),
  classes: z.array(z.record(z.string(), z.unknown())),
});
const cases = Cases.parse(yaml.load(readFileSync(path.join(here, 'host-forms.cases.yaml'), 'utf8')));

const embedded = (h: CanonicalHost): readonly string[] => (h.kind === 'ipv6' ? h.embedded : []);

describe('canonicalHost: the conformance table', () => {
  test.each(cases.hosts.map((c) => [c.input, c] as const))('%s', (_n, c) => {
    const h = canonicalHost(c.input);
    expect(h.kind).toBe(c.kind);
    if (c.host !== undefined) expect(h.host).toBe(c.host);
    if (c.embedded !== undefined) {
      if (c.embedded.length === 0) expect(embedded(h)).toEqual([]);
      else expect(embedded(h)).toEqual(expect.arrayContaining(c.embedded));
    }
    // Canonical text reads as itself (idempotent), for every kind with an address or a name.
    if (h.kind !== 'invalid' && h.kind !== 'none') expect(canonicalHost(h.host)).toEqual(h);
  });
});

describe('canonicalAuthority: the conformance table', () => {
  test.each(cases.authorities.map((c) => [c.input, c] as const))('%s', (_n, c) => {
    const a = canonicalAuthority(c.input);
    if (c.kind !== undefined) expect(a.host.kind).toBe(c.kind);
    if (c.host !== undefined) expect(a.host.host).toBe(c.host);
    expect(a.port).toBe(c.port);
    expect(a.alternate?.host).toBe(c.alternate);
  });
});

describe('agreement with the WHATWG URL host parser (Node URL), seeded', () => {
  const next = prng(0x5eed);
  const int = (n: number): number => Math.floor(next() * n);

  /** One to five parts: numbers in every radix and size, empty parts, stray characters; or alphabet soup. */
  const ipv4ish = (): string => {
    const alphabet = '0123456789abcdefxX.g';
    if (next() < 0.3) return Array.from({ length: 1 + int(18) }, () => alphabet[int(alphabet.length)]).join('');
    const part = (): string => {
      const n = next() < 0.2 ? int(2 ** 32 + 10) : next() < 0.5 ? int(70_000) : int(300);
      switch (int(7)) {
        case 0:
        case 1:
          return String(n);
        case 2:
          return `0x${n.toString(16)}`;
        case 3:
          return `0X${'0'.repeat(int(3))}${n.toString(16).toUpperCase()}`;
        case 4:
          return `0${n.toString(8)}`;
        case 5:
          return next() < 0.5 ? '' : `${n}${alphabet[int(alphabet.length)] ?? ''}`;
        default:
          return `0${n.toString(10)}`; // decimal digits read as octal: 8 and 9 fail
      }
    };
    return Array.from({ length: 1 + int(5) }, part).join('.') + (next() < 0.15 ? '.' : '');
  };

  test('every string WHATWG reads as an IPv4 address, a name or a failure reads the same here', () => {
    const differ: string[][] = [];
    let ipv4 = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = ipv4ish();
      // Several trailing dots: WHATWG keeps a domain no resolver resolves; this reading drops them (a protected
      // address followed by `..` is still denied, see canonical-host.ts).
      if (s === '' || /\.\.$/.test(s) || s.startsWith('.')) continue;
      let whatwg: string | undefined;
      try {
        whatwg = new URL(`http://${s}/`).hostname;
      } catch {
        whatwg = undefined;
      }
      const h = canonicalHost(s);
      const expected =
        whatwg === undefined
          ? ['invalid', h.host]
          : /^\d+\.\d+\.\d+\.\d+$/.test(whatwg)
            ? ['ipv4', whatwg]
            : ['name', whatwg.replace(/\.$/, '')];
      if (expected[0] === 'ipv4') ipv4++;
      if (h.kind !== expected[0] || h.host !== expected[1]) differ.push([s, h.kind, h.host, ...expected]);
    }
    expect(differ).toEqual([]);
    expect(ipv4).toBeGreaterThan(3_000);
  });

  /** Random IPv6 text: groups with leading zeros and mixed case, `::` somewhere, sometimes a dotted tail. */
  const ipv6ish = (): string => {
    const groups = Array.from({ length: 8 }, () => (next() < 0.4 ? 0 : int(0x10000)));
    const text = groups.map((g) => {
      const hex = g.toString(16);
      const padded = '0'.repeat(int(5 - hex.length)) + hex;
      return [...padded].map((c) => (next() < 0.5 ? c.toUpperCase() : c)).join('');
    });
    if (next() < 0.3) text.splice(6, 2, `${int(256)}.${int(256)}.${int(256)}.${int(256)}`);
    if (next() < 0.7) {
      const from = int(text.length);
      const to = from + int(text.length - from + 1);
      text.splice(from, to - from, from === 0 || to === text.length ? ':' : '');
    }
    return text.join(':').replace(/:{3,}/, '::');
  };

  test('every bracketed IPv6 literal WHATWG accepts is the same address here, in RFC 5952 text', () => {
    const differ: string[][] = [];
    let accepted = 0;
    for (let i = 0; i < 20_000; i++) {
      const s = ipv6ish();
      let whatwg: string | undefined;
      try {
        whatwg = new URL(`http://[${s}]/`).hostname;
      } catch {
        whatwg = undefined;
      }
      const h = canonicalHost(`[${s}]`);
      if (whatwg === undefined) {
        if (h.kind !== 'invalid') differ.push([s, h.kind, h.host, 'invalid']);
        continue;
      }
      accepted++;
      // WHATWG writes every group in hex (`[::ffff:a9fe:a9fe]`); the same address, read here, has one RFC 5952 text.
      const again = canonicalHost(whatwg);
      const same = h.kind === 'ipv6' && again.kind === 'ipv6' && h.groups.join() === again.groups.join();
      if (!same || h.host !== again.host) differ.push([s, h.kind, h.host, whatwg]);
    }
    expect(differ).toEqual([]);
    expect(accepted).toBeGreaterThan(5_000);
  });
});

describe('RFC 5952 text', () => {
  test.each([
    ['2001:0db8:0000:0000:0000:0000:0002:0001', '2001:db8::2:1'], // §4.1 leading zeros, §4.2.1 shortest
    ['2001:db8:0:0:1:0:0:1', '2001:db8::1:0:0:1'], // §4.2.3 first of two equal runs
    ['2001:0:0:1:0:0:0:1', '2001:0:0:1::1'], // §4.2.3 the longest run
    ['2001:db8:0:1:1:1:1:1', '2001:db8:0:1:1:1:1:1'], // §4.2.2 one zero group is not compressed
    ['2001:DB8::AAAA', '2001:db8::aaaa'], // §4.3 lower case
    ['0:0:0:0:0:ffff:c000:0201', '::ffff:192.0.2.1'], // §5 mixed notation for IPv4-mapped
  ])('%s is written %s', (input, text) => {
    expect(canonicalHost(input).host).toBe(text);
  });
});

describe('CIDR blocks', () => {
  test.each([
    ['10.0.0.0/8', '0x0a000005', true],
    ['10.0.0.0/8', '11.0.0.1', false],
    ['10.0.0.0/8', '::ffff:10.0.0.5', true], // IPv4-mapped: the same socket address
    ['10.0.0.0/8', '64:ff9b::10.0.0.5', false], // NAT64: another hop, not the same address
    ['fd00::/8', 'FD00:EC2:0:0:0:0:0:254', true],
    ['fd00:ec2::254/128', 'fd00:ec2::255', false],
    ['0.0.0.0/0', '1.2.3.4', true],
    ['::/0', '1.2.3.4', false],
    ['169.254.169.254', '2852039166', true],
  ])('%s holds %s: %s', (block, host, expected) => {
    const c = parseCidr(block);
    expect(c).toBeDefined();
    if (c) expect(cidrContains(c, canonicalHost(host))).toBe(expected);
  });

  test('blocks are read in any spelling and cover narrower blocks', () => {
    expect(parseCidr('FD00:0EC2:0:0:0:0:0:254/128')?.text).toBe('fd00:ec2::254/128');
    expect(parseCidr('10.0.0.0/33')).toBeUndefined();
    expect(parseCidr('fd00::/129')).toBeUndefined();
    expect(parseCidr('metadata.google.internal/32')).toBeUndefined();
    const wide = parseCidr('169.254.0.0/16');
    const imds = parseCidr('169.254.169.254/32');
    if (!wide || !imds) throw new Error('unparsed');
    expect(cidrCovers(wide, imds)).toBe(true);
    expect(cidrCovers(imds, wide)).toBe(false);
  });
});
