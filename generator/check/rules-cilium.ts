/** CIL rules: agent egress containment and CiliumNetworkPolicy validity. */
import {
  CRD_FINDING_CODES,
  METADATA_ENDPOINTS,
  checkImportRules,
  cidrCovers,
  parseCidr,
  type Cidr,
} from '../cilium/index.js';
import { arr, isObj, str, strMap, type CheckContext, type Rec, type Workload } from './context.js';
import type { ManifestDoc } from './manifests.js';

const CILIUM_KINDS = new Set(['CiliumNetworkPolicy', 'CiliumClusterwideNetworkPolicy']);

interface Spec {
  doc: ManifestDoc;
  spec: Rec;
  path: Array<string | number>;
}

function specsOf(doc: ManifestDoc): Spec[] {
  const out: Spec[] = [];
  if (isObj(doc.value['spec'])) out.push({ doc, spec: doc.value['spec'], path: ['spec'] });
  arr(doc.value['specs']).forEach((s, i) => {
    if (isObj(s)) out.push({ doc, spec: s, path: ['specs', i] });
  });
  return out;
}

const stripK8s = (k: string): string => k.replace(/^k8s:/, '');

/** Does an endpointSelector (matchLabels + matchExpressions) select this workload's pods? */
export function selects(selector: unknown, w: Workload, clusterwide: boolean, policyNs: string): boolean {
  if (!isObj(selector)) return false;
  if (!clusterwide && policyNs !== w.namespace) return false;
  const labels: Record<string, string> = {
    ...w.podLabels,
    'io.kubernetes.pod.namespace': w.namespace,
    'io.cilium.k8s.policy.serviceaccount': w.serviceAccount,
  };
  for (const [k, v] of Object.entries(strMap(selector['matchLabels']))) if (labels[stripK8s(k)] !== v) return false;
  for (const e of arr(selector['matchExpressions'])) {
    if (!isObj(e)) continue;
    const key = stripK8s(str(e['key']));
    const values = arr(e['values']).map(String);
    const has = key in labels;
    switch (str(e['operator'])) {
      case 'In':
        if (!has || !values.includes(labels[key] ?? '')) return false;
        break;
      case 'NotIn':
        if (has && values.includes(labels[key] ?? '')) return false;
        break;
      case 'Exists':
        if (!has) return false;
        break;
      case 'DoesNotExist':
        if (has) return false;
        break;
      default:
        return false;
    }
  }
  return true;
}

/** Cilium DNS wildcard match (generator-rules.md "toFQDNs and DNS"). */
export function dnsPatternMatches(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase().replace(/\.$/, '');
  const n = name.toLowerCase().replace(/\.$/, '');
  if (p === '*') return true;
  const re = p
    .split('.')
    .map((label, i) =>
      label === '**' && i === 0
        ? '(?:[-a-z0-9_]+\\.)*[-a-z0-9_]+'
        : label.replace(/[-_]/g, (c) => `\\${c}`).replace(/\*/g, '[-a-z0-9_]*'),
    )
    .join('\\.');
  return new RegExp(`^${re}$`).test(n);
}

/** Entities outside the cluster (Cilium "Entities based": world, and its per-family forms since 1.17; all). */
const WORLD_ENTITIES = new Set(['world', 'world-ipv4', 'world-ipv6', 'all']);
/** A block wider than a /8 (v4) or /16 (v6), such as 0.0.0.0/1, is treated as world egress. */
const WORLD_V4_BITS = 8;
const WORLD_V6_BITS = 16;
/**
 * The L3 parts of an egress rule. Without any, Cilium applies the rule's toPorts to every destination ("Layer 4
 * policy can be specified in isolation", docs.cilium.io policy/language, Layer 4 Examples).
 */
const L3_KEYS = [
  'toEndpoints',
  'toEntities',
  'toCIDR',
  'toCIDRSet',
  'toFQDNs',
  'toServices',
  'toGroups',
  'toNodes',
  'toRequires',
] as const;

/** Suffixes under which anyone can host a name (a wildcard over one reaches endpoints nobody vetted). */
const MULTI_TENANT_SUFFIXES = new Set([
  'amazonaws.com',
  's3.amazonaws.com',
  'cloudfront.net',
  'blob.core.windows.net',
  'core.windows.net',
  'azurewebsites.net',
  'appspot.com',
  'storage.googleapis.com',
  'run.app',
  'web.app',
  'firebaseapp.com',
  'herokuapp.com',
  'github.io',
  'githubusercontent.com',
  'ngrok.io',
  'ngrok-free.app',
  'workers.dev',
  'pages.dev',
  'vercel.app',
  'netlify.app',
]);
/** Second-level labels of country-code registries (`co.uk`, `com.au`): a wildcard over them is over a suffix. */
const REGISTRY_SECOND_LEVEL = new Set(['co', 'com', 'net', 'org', 'gov', 'edu', 'ac', 'or', 'ne', 'go']);

/**
 * Why an FQDN pattern reaches arbitrary endpoints, or undefined. The fixed labels after the last wildcard decide:
 * none or one (`*`, `*.com`, `api.*`), a registry suffix (`*.co.uk`), or a multi-tenant hosting suffix
 * (`*.s3.amazonaws.com`). A heuristic without the Public Suffix List: other suffixes are not recognized.
 */
export function broadPattern(pattern: string): string | undefined {
  const labels = pattern.toLowerCase().replace(/\.$/, '').split('.');
  const last = labels.reduce((acc, l, i) => (l.includes('*') ? i : acc), -1);
  if (last === -1) return undefined;
  const fixed = labels.slice(last + 1);
  if (fixed.length <= 1) return `matches every name under ${fixed.length === 0 ? 'any domain' : `.${fixed[0] ?? ''}`}`;
  const suffix = fixed.join('.');
  if (fixed.length === 2 && REGISTRY_SECOND_LEVEL.has(fixed[0] ?? '') && (fixed[1] ?? '').length === 2)
    return `matches every name under the registry suffix .${suffix}`;
  if (MULTI_TENANT_SUFFIXES.has(suffix)) return `matches every name under .${suffix}, where anyone can host`;
  return undefined;
}

export function ciliumRules(ctx: CheckContext): void {
  const policies = ctx.docs.filter((d) => CILIUM_KINDS.has(str(d.value['kind'])));

  // Validity of every Cilium policy (not only agents').
  for (const doc of policies) {
    const v = ctx.validators[str(doc.value['kind'])];
    if (v) {
      for (const f of v.validate(doc.value, doc.file)) {
        const parts = f.path
          .split('/')
          .filter(Boolean)
          .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
        ctx.report(
          f.code === CRD_FINDING_CODES.unknownField ? 'CIL011' : 'CIL010',
          doc,
          `${f.path}: ${f.message}`,
          parts,
        );
      }
    }
    for (const f of checkImportRules(doc.value, doc.file)) {
      const parts = f.path
        .split('/')
        .filter(Boolean)
        .map((x) => (/^\d+$/.test(x) ? Number(x) : x));
      ctx.report('CIL012', doc, `${f.path}: ${f.message}`, parts);
    }
  }

  for (const w of ctx.agents) {
    const selecting: Spec[] = [];
    for (const doc of policies) {
      const clusterwide = doc.value['kind'] === 'CiliumClusterwideNetworkPolicy';
      const ns = str((doc.value['metadata'] as Rec | undefined)?.['namespace']) || 'default';
      for (const s of specsOf(doc)) if (selects(s.spec['endpointSelector'], w, clusterwide, ns)) selecting.push(s);
    }
    const where = w.doc;
    const enforcing = selecting.filter(
      (s) =>
        (s.spec['egress'] !== undefined || s.spec['egressDeny'] !== undefined) &&
        !(isObj(s.spec['enableDefaultDeny']) && s.spec['enableDefaultDeny']['egress'] === false),
    );
    if (enforcing.length === 0) {
      ctx.report(
        'CIL001',
        where,
        `agent ${w.kind} ${w.namespace}/${w.name} has no CiliumNetworkPolicy with default-deny egress`,
      );
    }
    // Deny blocks in any spelling (`fd00:ec2:0:0:0:0:0:254/128`); a wider block (169.254.0.0/16) denies its entries.
    const denyCidrs: Cidr[] = [];
    const denyEntities = new Set<string>();
    const addDeny = (c: unknown): void => {
      const parsed = parseCidr(str(c));
      if (parsed !== undefined) denyCidrs.push(parsed);
    };
    for (const s of selecting) {
      for (const r of arr(s.spec['egressDeny'])) {
        if (!isObj(r)) continue;
        for (const c of arr(r['toCIDR'])) addDeny(c);
        for (const c of arr(r['toCIDRSet'])) if (isObj(c) && arr(c['except']).length === 0) addDeny(c['cidr']);
        for (const e of arr(r['toEntities'])) denyEntities.add(str(e));
      }
    }
    const missing = METADATA_ENDPOINTS.filter((m) => {
      const entry = parseCidr(m.cidr);
      return entry === undefined || !denyCidrs.some((d) => cidrCovers(d, entry));
    });
    if (missing.length > 0)
      ctx.report(
        'CIL002',
        where,
        `agent ${w.namespace}/${w.name}: metadata endpoints not denied: ${missing.map((m) => `${m.cidr} (${m.cloud})`).join(', ')}`,
      );
    if (!denyEntities.has('kube-apiserver') && !denyEntities.has('all'))
      ctx.report('CIL003', where, `agent ${w.namespace}/${w.name}: no egressDeny toEntities kube-apiserver`);

    const fqdnNames: Array<{ name: string; pattern: boolean; port: number; s: Spec; path: Array<string | number> }> =
      [];
    const dnsSelectors: string[] = [];
    for (const s of selecting) {
      arr(s.spec['egress']).forEach((r, i) => {
        if (!isObj(r)) return;
        const rp = [...s.path, 'egress', i];
        for (const e of arr(r['toEntities']))
          if (WORLD_ENTITIES.has(str(e)))
            ctx.report('CIL004', s.doc, `agent ${w.namespace}/${w.name}: egress to entity "${str(e)}"`, [
              ...rp,
              'toEntities',
            ]);
        for (const [key, c] of [
          ...arr(r['toCIDR']).map((x) => ['toCIDR', x] as const),
          ...arr(r['toCIDRSet']).map((x) => ['toCIDRSet', isObj(x) ? x['cidr'] : undefined] as const),
        ]) {
          const block = parseCidr(str(c));
          if (block && block.bits < (block.family === 4 ? WORLD_V4_BITS : WORLD_V6_BITS))
            ctx.report(
              'CIL004',
              s.doc,
              `agent ${w.namespace}/${w.name}: egress to ${str(c)}, a /${block.bits} (a large part of the internet)`,
              [...rp, key],
            );
        }
        if (arr(r['toPorts']).length > 0 && !L3_KEYS.some((k) => r[k] !== undefined))
          ctx.report(
            'CIL004',
            s.doc,
            `agent ${w.namespace}/${w.name}: an egress rule with toPorts and no destination allows those ports to every address`,
            rp,
          );
        const ports = arr(r['toPorts'])
          .flatMap((tp) => (isObj(tp) ? arr(tp['ports']) : []))
          .map((p) => (isObj(p) ? Number(p['port']) : NaN))
          .filter((n) => Number.isFinite(n) && n > 0);
        arr(r['toFQDNs']).forEach((f, j) => {
          if (!isObj(f)) return;
          const name = str(f['matchName']);
          const pattern = str(f['matchPattern']);
          const broad = pattern ? broadPattern(pattern) : undefined;
          if (broad !== undefined)
            ctx.report('CIL004', s.doc, `agent ${w.namespace}/${w.name}: toFQDNs matchPattern "${pattern}" ${broad}`, [
              ...rp,
              'toFQDNs',
              j,
            ]);
          else if (name || pattern)
            fqdnNames.push({
              name: name || pattern,
              pattern: !name,
              port: ports[0] ?? 443,
              s,
              path: [...rp, 'toFQDNs', j],
            });
        });
        for (const tp of arr(r['toPorts'])) {
          if (!isObj(tp) || !isObj(tp['rules'])) continue;
          for (const d of arr(tp['rules']['dns']))
            if (isObj(d)) dnsSelectors.push(str(d['matchName']) || str(d['matchPattern']));
        }
      });
    }
    for (const f of fqdnNames) {
      if (ctx.registry) {
        const cov = f.pattern
          ? ctx.registry.doc.spec.vendors.some(
              (v) =>
                v.status === 'active' &&
                v.endpoints.some((e) => e.pattern !== undefined && e.pattern.toLowerCase() === f.name.toLowerCase()),
            )
            ? { covered: true }
            : { covered: false, reason: 'no-agreement-for-pattern' }
          : ctx.registry.coverage(f.name, f.port, ctx.now);
        if (!cov.covered)
          ctx.report(
            'CIL005',
            f.s.doc,
            `agent ${w.namespace}/${w.name}: ${f.name}:${f.port} is not covered by an active BAA (${'reason' in cov ? String(cov.reason) : ''})`,
            f.path,
          );
      }
      if (
        !dnsSelectors.some((p) => p !== '' && (f.pattern ? p === f.name || p === '*' : dnsPatternMatches(p, f.name)))
      ) {
        ctx.report(
          'CIL006',
          f.s.doc,
          `agent ${w.namespace}/${w.name}: no DNS rule lets ${f.name} be resolved through the DNS proxy`,
          f.path,
        );
      }
    }
  }
}
