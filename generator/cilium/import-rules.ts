/**
 * What the Cilium agent rejects at import (`Sanitize()`, pkg/policy/api/rule_validation.go, v1.19) although the CRD
 * schema accepts it. A policy failing these is not enforced (status Valid=False). Rules and sources are listed in
 * ../shared/cilium/generator-rules.md; each check below names the rule it enforces.
 */
import { isIP } from 'node:net';
import { RE2JS } from 're2js';
import type { Finding } from '../../authz/model/index.js';

/** The codes these checks emit, one per rule of rule_validation.go that phiguard enforces. */
export const IMPORT_RULE_CODES = {
  notAnObject: 'not-an-object',
  noSpec: 'no-spec',
  selector: 'selector',
  nodeSelectorScope: 'node-selector-namespaced',
  noRuleSection: 'no-rule-section',
  l3Peers: 'multiple-l3-peers',
  icmpsWithPorts: 'icmps-with-ports',
  tooManyPorts: 'too-many-ports',
  l7Protocols: 'multiple-l7-protocols',
  dnsPortRange: 'dns-port-range',
  dnsPort: 'dns-port-required',
  l7NotTcp: 'l7-not-tcp',
  l7PortZero: 'l7-port-zero',
  dnsOnIngress: 'dns-on-ingress',
  hostPolicyL7: 'host-policy-l7',
  httpRegex: 'http-not-re2',
  fqdnSelector: 'fqdn-selector',
  serverName: 'server-name',
  serverNamesWithL7: 'server-names-with-l7',
  cidr: 'invalid-cidr',
  cidrExcept: 'except-outside-cidr',
} as const;
export type ImportRuleCode = (typeof IMPORT_RULE_CODES)[keyof typeof IMPORT_RULE_CODES];
const C = IMPORT_RULE_CODES;

/** Collects a finding at a JSON Pointer path. */
type Emit = (code: ImportRuleCode, path: string, message: string) => void;

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
    return (ipv4ToInt(a) & mask) >>> 0 === (ipv4ToInt(b) & mask) >>> 0;
  }
  return Number(bl ?? 128) >= Number(al ?? 128);
}

function checkPortRules(toPorts: unknown[], path: string, opts: { ingress: boolean; host: boolean }, emit: Emit): void {
  toPorts.forEach((tp, i) => {
    if (!isObj(tp)) return;
    const p = `${path}/toPorts/${i}`;
    const ports = arr(tp['ports']);
    if (ports.length > 40)
      emit(C.tooManyPorts, `${p}/ports`, `at most 40 ports per toPorts entry (RV maxPorts), found ${ports.length}`);
    const rules = isObj(tp['rules']) ? tp['rules'] : undefined;
    const l7kinds = rules
      ? ['http', 'kafka', 'l7proto', 'dns'].filter(
          (k) => rules[k] !== undefined && (k !== 'l7proto' || rules['l7proto'] !== ''),
        )
      : [];
    if (l7kinds.length > 1)
      emit(C.l7Protocols, `${p}/rules`, `multiple L7 protocol rule types in one rules object (${l7kinds.join(', ')})`);
    const hasDns = rules?.['dns'] !== undefined;
    const hasHttpLike = l7kinds.some((k) => k !== 'dns');
    for (const [j, port] of ports.entries()) {
      if (!isObj(port)) continue;
      const proto = typeof port['protocol'] === 'string' ? port['protocol'] : 'ANY';
      const portText = typeof port['port'] === 'string' || typeof port['port'] === 'number' ? String(port['port']) : '';
      const num = Number(portText || 0);
      if (hasDns && port['endPort'] !== undefined)
        emit(C.dnsPortRange, `${p}/ports/${j}`, 'DNS rules do not support port ranges');
      if (hasDns && num === 0 && /^\d*$/.test(portText))
        emit(C.dnsPort, `${p}/ports/${j}`, 'port 53 must be specified for DNS rules (a port, not 0)');
      if (hasHttpLike && proto !== 'TCP')
        emit(C.l7NotTcp, `${p}/ports/${j}`, `L7 rules can only apply to TCP, not ${proto} (except DNS rules)`);
      if (hasHttpLike && num === 0 && /^\d*$/.test(portText))
        emit(C.l7PortZero, `${p}/ports/${j}`, 'L7 rules need a port other than 0');
    }
    if (hasDns && opts.ingress) emit(C.dnsOnIngress, `${p}/rules/dns`, 'DNS rules are not allowed on ingress');
    if (opts.host && hasHttpLike)
      emit(C.hostPolicyL7, `${p}/rules`, 'host policies (nodeSelector) allow only DNS L7 rules');
    for (const [j, h] of arr(rules?.['http']).entries()) {
      if (!isObj(h)) continue;
      for (const f of ['method', 'path', 'host']) {
        const v = h[f];
        if (typeof v === 'string') {
          const problem = re2(v);
          if (problem) emit(C.httpRegex, `${p}/rules/http/${j}/${f}`, `not a valid RE2 regex: ${problem}`);
        }
      }
    }
    for (const [j, d] of arr(rules?.['dns']).entries()) checkFqdnSelector(d, `${p}/rules/dns/${j}`, emit);
    const sn = arr(tp['serverNames']);
    sn.forEach((n, j) => {
      if (typeof n !== 'string' || n === '' || !SERVER_NAME.test(n))
        emit(C.serverName, `${p}/serverNames/${j}`, `invalid server name ${JSON.stringify(n)}`);
    });
    if (sn.length > 0 && hasHttpLike && tp['terminatingTLS'] === undefined) {
      emit(
        C.serverNamesWithL7,
        `${p}/serverNames`,
        'serverNames cannot be combined with L7 rules unless terminatingTLS is set',
      );
    }
  });
}

function checkFqdnSelector(sel: unknown, p: string, emit: Emit): void {
  if (!isObj(sel)) return;
  const n = sel['matchName'];
  const pat = sel['matchPattern'];
  if ((n === undefined) === (pat === undefined)) emit(C.fqdnSelector, p, 'exactly one of matchName or matchPattern');
  if (typeof n === 'string' && (n.length > 255 || !MATCH_NAME.test(n)))
    emit(C.fqdnSelector, `${p}/matchName`, `invalid matchName ${JSON.stringify(n)}`);
  if (typeof pat === 'string' && (pat.length > 255 || !MATCH_PATTERN.test(pat)))
    emit(C.fqdnSelector, `${p}/matchPattern`, `invalid matchPattern ${JSON.stringify(pat)}`);
}

function checkDirection(
  rules: unknown[],
  base: string,
  l3: string[],
  opts: { ingress: boolean; host: boolean; deny: boolean },
  emit: Emit,
): void {
  rules.forEach((r, i) => {
    if (!isObj(r)) return;
    const p = `${base}/${i}`;
    const present = l3.filter((k) => r[k] !== undefined);
    if (present.length > 1)
      emit(C.l3Peers, p, `combining ${present.join(' and ')} in one rule is not supported (one L3 peer type per rule)`);
    if (r['icmps'] !== undefined && r['toPorts'] !== undefined)
      emit(C.icmpsWithPorts, p, 'icmps and toPorts cannot be in the same rule');
    if (r['icmps'] !== undefined && r['fromPorts'] !== undefined)
      emit(C.icmpsWithPorts, p, 'icmps and ports cannot be in the same rule');
    checkPortRules(arr(r['toPorts']), p, opts, emit);
    for (const [j, s] of arr(r['toFQDNs']).entries()) checkFqdnSelector(s, `${p}/toFQDNs/${j}`, emit);
    for (const key of ['toCIDR', 'fromCIDR']) {
      for (const [j, c] of arr(r[key]).entries()) {
        const problem = typeof c === 'string' ? cidrProblem(c) : 'not a string';
        if (problem) emit(C.cidr, `${p}/${key}/${j}`, problem);
      }
    }
    for (const key of ['toCIDRSet', 'fromCIDRSet']) {
      for (const [j, c] of arr(r[key]).entries()) {
        if (!isObj(c) || typeof c['cidr'] !== 'string') continue;
        const problem = cidrProblem(c['cidr']);
        if (problem) emit(C.cidr, `${p}/${key}/${j}/cidr`, problem);
        for (const [k, ex] of arr(c['except']).entries()) {
          if (typeof ex !== 'string' || cidrProblem(ex) || !exceptInside(c['cidr'], ex)) {
            emit(
              C.cidrExcept,
              `${p}/${key}/${j}/except/${k}`,
              `except ${JSON.stringify(ex)} must lie inside ${c['cidr']}`,
            );
          }
        }
      }
    }
  });
}

function collector(file: string): { out: Finding<ImportRuleCode>[]; emit: Emit } {
  const out: Finding<ImportRuleCode>[] = [];
  const emit: Emit = (code, path, message) => {
    out.push({ code, severity: 'error', file, path, message });
  };
  return { out, emit };
}

function checkSpecInto(spec: unknown, path: string, clusterwide: boolean, emit: Emit): void {
  if (!isObj(spec)) {
    emit(C.notAnObject, path, 'spec must be an object');
    return;
  }
  const hasEp = spec['endpointSelector'] !== undefined;
  const hasNode = spec['nodeSelector'] !== undefined;
  if (hasEp === hasNode) emit(C.selector, path, 'a rule needs exactly one of endpointSelector or nodeSelector');
  if (hasNode && !clusterwide) {
    emit(
      C.nodeSelectorScope,
      `${path}/nodeSelector`,
      'nodeSelector (host policy) is only allowed in a CiliumClusterwideNetworkPolicy',
    );
  }
  if (!['ingress', 'ingressDeny', 'egress', 'egressDeny'].some((k) => spec[k] !== undefined)) {
    emit(C.noRuleSection, path, 'a rule must have at least one of ingress, ingressDeny, egress or egressDeny');
  }
  const host = hasNode;
  checkDirection(arr(spec['egress']), `${path}/egress`, EGRESS_L3, { ingress: false, host, deny: false }, emit);
  checkDirection(arr(spec['egressDeny']), `${path}/egressDeny`, EGRESS_L3, { ingress: false, host, deny: true }, emit);
  checkDirection(arr(spec['ingress']), `${path}/ingress`, INGRESS_L3, { ingress: true, host, deny: false }, emit);
  checkDirection(
    arr(spec['ingressDeny']),
    `${path}/ingressDeny`,
    INGRESS_L3,
    { ingress: true, host, deny: true },
    emit,
  );
}

/** Checks one policy spec at JSON Pointer `path`; `clusterwide` for CiliumClusterwideNetworkPolicy. */
export function checkSpec(spec: unknown, path: string, clusterwide: boolean, file = ''): Finding<ImportRuleCode>[] {
  const { out, emit } = collector(file);
  checkSpecInto(spec, path, clusterwide, emit);
  return out;
}

/** Checks a CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy document (`spec` or `specs`), read from `file`. */
export function checkImportRules(doc: unknown, file = ''): Finding<ImportRuleCode>[] {
  const { out, emit } = collector(file);
  if (!isObj(doc)) {
    emit(C.notAnObject, '/', 'not an object');
    return out;
  }
  const clusterwide = doc['kind'] === 'CiliumClusterwideNetworkPolicy';
  if (doc['spec'] !== undefined) checkSpecInto(doc['spec'], '/spec', clusterwide, emit);
  arr(doc['specs']).forEach((s, i) => checkSpecInto(s, `/specs/${i}`, clusterwide, emit));
  if (doc['spec'] === undefined && doc['specs'] === undefined) emit(C.noSpec, '/', 'a policy needs spec or specs');
  return out;
}
