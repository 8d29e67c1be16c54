/**
 * What the Cilium agent rejects at import (`Sanitize()`, pkg/policy/api/rule_validation.go, v1.19) although the CRD
 * schema accepts it. A policy failing these is not enforced (status Valid=False). Rules and sources are listed in
 * ../shared/cilium/generator-rules.md; each check below names the rule it enforces.
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';

export interface RuleFinding {
  path: string;
  message: string;
}

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);

const EGRESS_L3 = ['toEndpoints', 'toCIDR', 'toCIDRSet', 'toEntities', 'toServices', 'toGroups', 'toNodes', 'toFQDNs'];
const INGRESS_L3 = ['fromEndpoints', 'fromCIDR', 'fromCIDRSet', 'fromEntities', 'fromGroups', 'fromNodes'];
const MATCH_NAME = /^([-a-zA-Z0-9_]+[.]?)+$/;
const MATCH_PATTERN = /^([-a-zA-Z0-9_*]+[.]?)+$/;
const SERVER_NAME = /^(\*?\*\.)?([-a-zA-Z0-9_]+\.?)+$/;

/** RE2 syntax check, cached per pattern (generated policies repeat the same path patterns many times). */
const re2Verdicts = new Map<string, string | undefined>();
function re2(pattern: string): string | undefined {
  if (re2Verdicts.has(pattern)) return re2Verdicts.get(pattern);
  let verdict: string | undefined;
  try {
    RE2JS.compile(pattern);
  } catch (e) {
    verdict = e instanceof Error ? e.message : 'invalid';
  }
  if (re2Verdicts.size > 50_000) re2Verdicts.clear();
  re2Verdicts.set(pattern, verdict);
  return verdict;
}

/** A CIDR with a contiguous mask (RV CIDRRule.sanitize). */
function cidrProblem(c: string): string | undefined {
  const m = /^(.+)\/(\d{1,3})$/.exec(c);
  if (!m || m[1] === undefined || m[2] === undefined) return isIP(c) !== 0 ? undefined : `"${c}" is not an IP or CIDR`;
  const v = isIP(m[1]);
  if (v === 0) return `"${c}" is not a CIDR`;
  const bits = Number(m[2]);
  if (bits > (v === 4 ? 32 : 128)) return `"${c}" has a prefix longer than the address`;
  return undefined;
}

function ipv4ToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

/** `except` must lie inside its `cidr` (IPv4 checked exactly; IPv6 by prefix string, conservatively). */
function exceptInside(cidr: string, except: string): boolean {
  const [a, al] = cidr.split('/');
  const [b, bl] = except.split('/');
  if (a === undefined || b === undefined) return false;
  if (isIP(a) === 4 && isIP(b) === 4) {
    const l = Number(al ?? 32);
    const lb = Number(bl ?? 32);
    if (lb < l) return false;
    const mask = l === 0 ? 0 : (~0 << (32 - l)) >>> 0;
    return ((ipv4ToInt(a) & mask) >>> 0) === ((ipv4ToInt(b) & mask) >>> 0);
  }
  return Number(bl ?? 128) >= Number(al ?? 128);
}

function checkPortRules(toPorts: unknown[], path: string, opts: { ingress: boolean; host: boolean }, out: RuleFinding[]): void {
  toPorts.forEach((tp, i) => {
    if (!isObj(tp)) return;
    const p = `${path}/toPorts/${i}`;
    const ports = arr(tp['ports']);
    if (ports.length > 40) out.push({ path: `${p}/ports`, message: `at most 40 ports per toPorts entry (RV maxPorts), found ${ports.length}` });
    const rules = isObj(tp['rules']) ? tp['rules'] : undefined;
    const l7kinds = rules ? ['http', 'kafka', 'l7proto', 'dns'].filter((k) => rules[k] !== undefined && (k !== 'l7proto' || rules['l7proto'] !== '')) : [];
    if (l7kinds.length > 1) out.push({ path: `${p}/rules`, message: `multiple L7 protocol rule types in one rules object (${l7kinds.join(', ')})` });
    const hasDns = rules?.['dns'] !== undefined;
    const hasHttpLike = l7kinds.some((k) => k !== 'dns');
    for (const [j, port] of ports.entries()) {
      if (!isObj(port)) continue;
      const proto = typeof port['protocol'] === 'string' ? port['protocol'] : 'ANY';
      const portText = typeof port['port'] === 'string' || typeof port['port'] === 'number' ? String(port['port']) : '';
      const num = Number(portText || 0);
      if (hasDns && port['endPort'] !== undefined) out.push({ path: `${p}/ports/${j}`, message: 'DNS rules do not support port ranges' });
      if (hasDns && num === 0 && /^\d*$/.test(portText)) out.push({ path: `${p}/ports/${j}`, message: 'port 53 must be specified for DNS rules (a port, not 0)' });
      if (hasHttpLike && proto !== 'TCP') out.push({ path: `${p}/ports/${j}`, message: `L7 rules can only apply to TCP, not ${proto} (except DNS rules)` });
      if (hasHttpLike && num === 0 && /^\d*$/.test(portText)) out.push({ path: `${p}/ports/${j}`, message: 'L7 rules need a port other than 0' });
    }
    if (hasDns && opts.ingress) out.push({ path: `${p}/rules/dns`, message: 'DNS rules are not allowed on ingress' });
    if (opts.host && hasHttpLike) out.push({ path: `${p}/rules`, message: 'host policies (nodeSelector) allow only DNS L7 rules' });
    for (const [j, h] of arr(rules?.['http']).entries()) {
      if (!isObj(h)) continue;
      for (const f of ['method', 'path', 'host']) {
        const v = h[f];
        if (typeof v === 'string') {
          const problem = re2(v);
          if (problem) out.push({ path: `${p}/rules/http/${j}/${f}`, message: `not a valid RE2 regex: ${problem}` });
        }
      }
    }
    for (const [j, d] of arr(rules?.['dns']).entries()) checkFqdnSelector(d, `${p}/rules/dns/${j}`, out);
    const sn = arr(tp['serverNames']);
    sn.forEach((n, j) => {
      if (typeof n !== 'string' || n === '' || !SERVER_NAME.test(n)) out.push({ path: `${p}/serverNames/${j}`, message: `invalid server name ${JSON.stringify(n)}` });
    });
    if (sn.length > 0 && hasHttpLike && tp['terminatingTLS'] === undefined) {
      out.push({ path: `${p}/serverNames`, message: 'serverNames cannot be combined with L7 rules unless terminatingTLS is set' });
    }
  });
}

function checkFqdnSelector(sel: unknown, p: string, out: RuleFinding[]): void {
  if (!isObj(sel)) return;
  const n = sel['matchName'];
  const pat = sel['matchPattern'];
  if ((n === undefined) === (pat === undefined)) out.push({ path: p, message: 'exactly one of matchName or matchPattern' });
  if (typeof n === 'string' && (n.length > 255 || !MATCH_NAME.test(n))) out.push({ path: `${p}/matchName`, message: `invalid matchName ${JSON.stringify(n)}` });
  if (typeof pat === 'string' && (pat.length > 255 || !MATCH_PATTERN.test(pat))) out.push({ path: `${p}/matchPattern`, message: `invalid matchPattern ${JSON.stringify(pat)}` });
}

function checkDirection(rules: unknown[], base: string, l3: string[], opts: { ingress: boolean; host: boolean; deny: boolean }, out: RuleFinding[]): void {
  rules.forEach((r, i) => {
    if (!isObj(r)) return;
    const p = `${base}/${i}`;
    const present = l3.filter((k) => r[k] !== undefined);
    if (present.length > 1) out.push({ path: p, message: `combining ${present.join(' and ')} in one rule is not supported (one L3 peer type per rule)` });
    if (r['icmps'] !== undefined && r['toPorts'] !== undefined) out.push({ path: p, message: 'icmps and toPorts cannot be in the same rule' });
    if (r['icmps'] !== undefined && r['fromPorts'] !== undefined) out.push({ path: p, message: 'icmps and ports cannot be in the same rule' });
    checkPortRules(arr(r['toPorts']), p, opts, out);
    for (const [j, s] of arr(r['toFQDNs']).entries()) checkFqdnSelector(s, `${p}/toFQDNs/${j}`, out);
    for (const key of ['toCIDR', 'fromCIDR']) {
      for (const [j, c] of arr(r[key]).entries()) {
        const problem = typeof c === 'string' ? cidrProblem(c) : 'not a string';
        if (problem) out.push({ path: `${p}/${key}/${j}`, message: problem });
      }
    }
    for (const key of ['toCIDRSet', 'fromCIDRSet']) {
      for (const [j, c] of arr(r[key]).entries()) {
        if (!isObj(c) || typeof c['cidr'] !== 'string') continue;
        const problem = cidrProblem(c['cidr']);
        if (problem) out.push({ path: `${p}/${key}/${j}/cidr`, message: problem });
        for (const [k, ex] of arr(c['except']).entries()) {
          if (typeof ex !== 'string' || cidrProblem(ex) || !exceptInside(c['cidr'], ex)) out.push({ path: `${p}/${key}/${j}/except/${k}`, message: `except ${JSON.stringify(ex)} must lie inside ${c['cidr']}` });
        }
      }
    }
  });
}

/** Checks one policy spec; `clusterwide` for CiliumClusterwideNetworkPolicy. */
export function checkSpec(spec: unknown, path: string, clusterwide: boolean): RuleFinding[] {
  const out: RuleFinding[] = [];
  if (!isObj(spec)) return [{ path, message: 'spec must be an object' }];
  const hasEp = spec['endpointSelector'] !== undefined;
  const hasNode = spec['nodeSelector'] !== undefined;
  if (hasEp === hasNode) out.push({ path, message: 'a rule needs exactly one of endpointSelector or nodeSelector' });
  if (hasNode && !clusterwide) out.push({ path: `${path}/nodeSelector`, message: 'nodeSelector (host policy) is only allowed in a CiliumClusterwideNetworkPolicy' });
  if (!['ingress', 'ingressDeny', 'egress', 'egressDeny'].some((k) => spec[k] !== undefined)) {
    out.push({ path, message: 'a rule must have at least one of ingress, ingressDeny, egress or egressDeny' });
  }
  const host = hasNode;
  checkDirection(arr(spec['egress']), `${path}/egress`, EGRESS_L3, { ingress: false, host, deny: false }, out);
  checkDirection(arr(spec['egressDeny']), `${path}/egressDeny`, EGRESS_L3, { ingress: false, host, deny: true }, out);
  checkDirection(arr(spec['ingress']), `${path}/ingress`, INGRESS_L3, { ingress: true, host, deny: false }, out);
  checkDirection(arr(spec['ingressDeny']), `${path}/ingressDeny`, INGRESS_L3, { ingress: true, host, deny: true }, out);
  return out;
}

/** Checks a CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy document (`spec` or `specs`). */
export function checkImportRules(doc: unknown): RuleFinding[] {
  if (!isObj(doc)) return [{ path: '/', message: 'not an object' }];
  const clusterwide = doc['kind'] === 'CiliumClusterwideNetworkPolicy';
  const out: RuleFinding[] = [];
  if (doc['spec'] !== undefined) out.push(...checkSpec(doc['spec'], '/spec', clusterwide));
  arr(doc['specs']).forEach((s, i) => out.push(...checkSpec(s, `/specs/${i}`, clusterwide)));
  if (doc['spec'] === undefined && doc['specs'] === undefined) out.push({ path: '/', message: 'a policy needs spec or specs' });
  return out;
}
