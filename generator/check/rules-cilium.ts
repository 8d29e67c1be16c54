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
function selects(selector: unknown, w: Workload, clusterwide: boolean, policyNs: string): boolean {
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
    const where = { file: w.doc.file, line: w.doc.line };
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
          if (e === 'world' || e === 'all')
            ctx.report('CIL004', s.doc, `agent ${w.namespace}/${w.name}: egress to entity "${str(e)}"`, [
              ...rp,
              'toEntities',
            ]);
        for (const c of [...arr(r['toCIDR']), ...arr(r['toCIDRSet']).map((x) => (isObj(x) ? x['cidr'] : undefined))]) {
          if (c === '0.0.0.0/0' || c === '::/0')
            ctx.report('CIL004', s.doc, `agent ${w.namespace}/${w.name}: egress to ${str(c)}`, rp);
        }
        const ports = arr(r['toPorts'])
          .flatMap((tp) => (isObj(tp) ? arr(tp['ports']) : []))
          .map((p) => (isObj(p) ? Number(p['port']) : NaN))
          .filter((n) => Number.isFinite(n) && n > 0);
        arr(r['toFQDNs']).forEach((f, j) => {
          if (!isObj(f)) return;
          const name = str(f['matchName']);
          const pattern = str(f['matchPattern']);
          if (pattern === '*')
            ctx.report('CIL004', s.doc, `agent ${w.namespace}/${w.name}: toFQDNs matchPattern "*" allows every name`, [
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
