/**
 * The Business Associate Agreement registry (45 CFR §164.504(e)): which outside endpoints may receive PHI, under
 * which agreement, and when. Read by the egress lane and by `generate cilium` / `check` (FQDN allow-lists).
 *
 * Endpoint patterns are DNS wildcards with Cilium's meaning (CiliumNetworkPolicy toFQDNs matchPattern):
 * `*.x` matches exactly one label, `**.x` any number of labels (not `x` itself); matching is case-insensitive.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { readTextFile, readYamlDocument } from '../config/index.js';
import { ok, type Result } from '../model/index.js';
import { canonicalHost } from './canonical-host.js';

const date = z.union([z.iso.date(), z.iso.datetime()]);

export const BaaEndpointSchema = z
  .object({
    host: z
      .string()
      .regex(/^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*\.?$/, 'a DNS name')
      .optional(),
    pattern: z
      .string()
      .regex(/^(\*\*?\.)?([A-Za-z0-9-]+\.)*[A-Za-z0-9-]+\.?$/, 'a DNS wildcard like *.vendor.com or **.vendor.com')
      .optional(),
    ports: z.array(z.number().int().min(1).max(65535)).default([443]),
  })
  .strict()
  .refine((e) => (e.host === undefined) !== (e.pattern === undefined), { message: 'exactly one of host or pattern' });

export const BaaVendorSchema = z
  .object({
    name: z.string().min(1),
    agreementId: z.string().min(1),
    status: z.enum(['active', 'terminated', 'pending']),
    effective: date,
    expires: date.optional(),
    endpoints: z.array(BaaEndpointSchema).min(1),
  })
  .strict();

export const BaaRegistrySchema = z
  .object({
    apiVersion: z.literal('phiguard.io/v1alpha1'),
    kind: z.literal('BAARegistry'),
    metadata: z.object({ name: z.string().min(1) }).strict(),
    spec: z.object({ vendors: z.array(BaaVendorSchema) }).strict(),
  })
  .strict();

export type BaaRegistryDoc = z.infer<typeof BaaRegistrySchema>;
export type BaaVendor = z.infer<typeof BaaVendorSchema>;

export type Coverage =
  | { covered: true; vendor: string; agreementId: string; match: string }
  | {
      covered: false;
      reason: 'no-agreement' | 'terminated' | 'pending' | 'expired' | 'not-yet-effective' | 'port-not-covered';
      vendor?: string;
      agreementId?: string;
    };

export interface BaaRegistry {
  doc: BaaRegistryDoc;
  /** sha256 prefix of the file content: recorded in every egress decision and generated policy. */
  version: string;
  /** Whether an active agreement covers host:port at `at`. */
  coverage(host: string, port: number, at: Date): Coverage;
}

const norm = (h: string): string => h.toLowerCase().replace(/\.$/, '');
/** Exact hosts are compared in their canonical reading (canonical-host.ts), the one the egress lane uses. */
const canonical = (h: string): string => canonicalHost(h).host;

/** DNS wildcard match with Cilium semantics. */
export function matchesPattern(pattern: string, host: string): boolean {
  const p = norm(pattern);
  const h = norm(host);
  if (p.startsWith('**.')) {
    const suffix = p.slice(2); // ".x"
    return h.endsWith(suffix) && h.length > suffix.length;
  }
  if (p.startsWith('*.')) {
    const suffix = p.slice(1);
    if (!h.endsWith(suffix)) return false;
    const head = h.slice(0, h.length - suffix.length);
    return head.length > 0 && !head.includes('.');
  }
  return p === h;
}

function endOfDay(d: string): number {
  return d.length === 10 ? Date.parse(`${d}T23:59:59.999Z`) : Date.parse(d);
}

export function createBaaRegistry(doc: BaaRegistryDoc, version: string): BaaRegistry {
  // Exact hosts are indexed; patterns are scanned (registries hold few of them).
  type Entry = { v: BaaVendor; e: BaaVendor['endpoints'][number] };
  const exact = new Map<string, Entry[]>();
  const patterns: Entry[] = [];
  for (const v of doc.spec.vendors) {
    for (const e of v.endpoints) {
      if (e.host !== undefined) exact.set(canonical(e.host), [...(exact.get(canonical(e.host)) ?? []), { v, e }]);
      else patterns.push({ v, e });
    }
  }
  return {
    doc,
    version,
    coverage(host, port, at) {
      let best: Coverage = { covered: false, reason: 'no-agreement' };
      const t = at.getTime();
      const h = canonicalHost(host);
      // DNS wildcards match names only, never an IP literal (Cilium applies matchPattern to DNS names).
      const candidates = [
        ...(exact.get(h.host) ?? []),
        ...(h.kind === 'name'
          ? patterns.filter((p) => p.e.pattern !== undefined && matchesPattern(p.e.pattern, h.host))
          : []),
      ];
      for (const { v, e } of candidates) {
        {
          const match = e.host ?? e.pattern ?? '';
          const ids = { vendor: v.name, agreementId: v.agreementId };
          if (!e.ports.includes(port)) {
            best = { covered: false, reason: 'port-not-covered', ...ids };
            continue;
          }
          if (v.status === 'terminated') {
            best = { covered: false, reason: 'terminated', ...ids };
            continue;
          }
          if (v.status === 'pending') {
            best = { covered: false, reason: 'pending', ...ids };
            continue;
          }
          if (t < Date.parse(v.effective)) {
            best = { covered: false, reason: 'not-yet-effective', ...ids };
            continue;
          }
          if (v.expires !== undefined && t > endOfDay(v.expires)) {
            best = { covered: false, reason: 'expired', ...ids };
            continue;
          }
          return { covered: true, vendor: v.name, agreementId: v.agreementId, match };
        }
      }
      return best;
    },
  };
}

/** Validates a registry text; errors name the file, line and field. */
export function parseBaaRegistry(text: string, file: string): Result<BaaRegistry> {
  const doc = readYamlDocument(text, file, BaaRegistrySchema);
  if (!doc.ok) return doc;
  return ok(createBaaRegistry(doc.value, createHash('sha256').update(text).digest('hex').slice(0, 16)));
}

/** Reads and validates a registry file: the registry, or an `io` / `config` error naming file, line and field. */
export function readBaaRegistry(file: string): Result<BaaRegistry> {
  const text = readTextFile(file);
  return text.ok ? parseBaaRegistry(text.value, file) : text;
}
