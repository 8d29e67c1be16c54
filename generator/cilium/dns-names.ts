/**
 * The names a workload's resolver asks the cluster DNS for, so the DNS allow-list of a generated policy lets every
 * one of them through.
 *
 * Cilium's DNS proxy answers every query that no `toPorts[].rules.dns` entry matches with REFUSED (agent flag
 * `--tofqdns-dns-reject-response-code`, default `refused`; Cilium docs security/policy/language.rst "DNS based" and
 * ../shared/cilium/generator-rules.md "toFQDNs and DNS"). A pod with `dnsPolicy: ClusterFirst` has
 * `search <ns>.svc.<domain> svc.<domain> <domain> <node search domains>` and `options ndots:5` in resolv.conf
 * (Kubernetes docs concepts/services-networking/dns-pod-service "Pod's DNS Config"), so a name with fewer than five
 * dots is first asked with each search suffix appended. glibc moves on to the next suffix after a REFUSED answer;
 * musl (Alpine) stops at the first answer that is not NXDOMAIN (musl wiki, "Functional differences from glibc", Name
 * Resolver/DNS), so one refused expansion fails the whole lookup. Every expansion is therefore allowed, by exact name.
 */

/** DNS names Cilium's `matchName` accepts (CRD pattern `^([-a-zA-Z0-9_]+[.]?)+$`), lower case, no trailing dot. */
const DNS_NAME = /^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/;

/** The longest name DNS carries (RFC 1035 §2.3.4: 255 octets on the wire, 253 characters as text). */
const MAX_NAME = 253;

/** Whether `name` (canonical: lower case, no trailing dot) is a DNS name Cilium's `matchName` accepts. */
export function isDnsName(name: string): boolean {
  return name.length <= MAX_NAME && DNS_NAME.test(name);
}

/** Where a workload's resolver looks: its namespace, the cluster domain and extra search domains (node domains). */
export interface DnsSearch {
  namespace: string;
  clusterDomain: string;
  /** Search domains beyond the cluster's own (the node's resolv.conf, `dnsConfig.searches`): `--dns-search`. */
  extra: readonly string[];
}

/**
 * A name and the search-list expansions its resolver may ask first, in resolv.conf order.
 *
 * @param name - a canonical DNS name (isDnsName)
 * @param search - the workload's search path
 * @returns `name` first, then `name.<ns>.svc.<domain>`, `name.svc.<domain>`, `name.<domain>` and `name.<extra>`,
 *   each once, leaving out any longer than DNS allows. Never throws.
 */
export function searchListNames(name: string, search: DnsSearch): string[] {
  const out = [name];
  for (const s of searchSuffixes(search)) {
    const n = `${name}.${s}`;
    if (isDnsName(n) && !out.includes(n)) out.push(n);
  }
  return out;
}

/**
 * A Cilium DNS wildcard (`*.pas.payer-a.example`) and the same pattern under each search suffix, since the resolver
 * appends the search list to any name it is given.
 *
 * @returns the pattern first, then its expansions that fit in a DNS name. Never throws.
 */
export function searchListPatterns(pattern: string, search: DnsSearch): string[] {
  const out = [pattern];
  for (const s of searchSuffixes(search)) {
    const p = `${pattern}.${s}`;
    if (p.length <= MAX_NAME && !out.includes(p)) out.push(p);
  }
  return out;
}

/** The search suffixes in resolv.conf order, lower case, without leading or trailing dots. */
function searchSuffixes(search: DnsSearch): string[] {
  return [
    `${search.namespace}.svc.${search.clusterDomain}`,
    `svc.${search.clusterDomain}`,
    search.clusterDomain,
    ...search.extra,
  ].map((s) => s.toLowerCase().replace(/^\.+|\.+$/g, ''));
}
