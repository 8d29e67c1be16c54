/**
 * `NS/LABELS` pod selectors as the generator's flags take them (`--dns-selector`, `--istiod`, `--egress-gateway`):
 * `istio-system/istio=egressgateway`, `openshift-dns/dns.operator.openshift.io/daemonset-dns=default`, or a bare
 * namespace. The namespace is everything before the first `/` (Kubernetes namespaces hold no `/`); labels are
 * comma-separated `key=value` pairs and may themselves contain `/` in their key.
 */

/** Pods in one namespace with these labels. */
export interface PodSelector {
  namespace: string;
  labels: Record<string, string>;
}

const NAMESPACE = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/**
 * Parses `NS[/key=value,...]`.
 *
 * @returns the selector, or an error message naming what is wrong. Never throws.
 */
export function parsePodSelector(text: string): { value: PodSelector } | { error: string } {
  const slash = text.indexOf('/');
  const namespace = slash < 0 ? text : text.slice(0, slash);
  if (!NAMESPACE.test(namespace)) return { error: `not a namespace: ${JSON.stringify(namespace)}` };
  const labels: Record<string, string> = {};
  const rest = slash < 0 ? '' : text.slice(slash + 1);
  for (const pair of rest.split(',').filter((p) => p !== '')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) return { error: `not key=value: ${JSON.stringify(pair)}` };
    labels[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return { value: { namespace, labels } };
}

/**
 * The `matchLabels` of a Cilium endpoint selector for these pods: the namespace label plus each label under the
 * `k8s:` source prefix (Cilium docs security/policy/kubernetes.rst "Namespaces").
 */
export function matchLabelsOf(s: PodSelector): Record<string, string> {
  const out: Record<string, string> = { 'k8s:io.kubernetes.pod.namespace': s.namespace };
  for (const [k, v] of Object.entries(s.labels)) out[k.startsWith('k8s:') ? k : `k8s:${k}`] = v;
  return Object.fromEntries(Object.entries(out).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
}

/** `ns/k=v,k2=v2`, the flag's spelling, for annotations and messages. */
export function podSelectorText(s: PodSelector): string {
  const labels = Object.entries(s.labels)
    .map(([k, v]) => `${k}=${v}`)
    .join(',');
  return labels === '' ? s.namespace : `${s.namespace}/${labels}`;
}
