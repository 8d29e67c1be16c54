/**
 * `generate cilium --from-cluster`: each envelope's workload as it is in the cluster. The pod labels become the
 * workload's own selector (`spec.selector.matchLabels` of the Deployment, StatefulSet or DaemonSet; a Pod's labels;
 * a Job's or CronJob's pod template labels): the labels Kubernetes itself uses to find the workload's pods, which
 * stay the same across rollouts, unlike template labels such as a version. The service account is the pod
 * template's. A workload the cluster does not have, or whose selector uses matchExpressions, keeps its envelope
 * metadata and is reported as a problem.
 */
import type { KubeConfig } from '@kubernetes/client-node';
import { kubeRequest } from '../../authz/kube/index.js';
import type { Envelope } from '../../authz/observe/index.js';

const PATHS: Record<string, (ns: string, name: string) => string> = {
  Deployment: (ns, n) => `/apis/apps/v1/namespaces/${ns}/deployments/${n}`,
  StatefulSet: (ns, n) => `/apis/apps/v1/namespaces/${ns}/statefulsets/${n}`,
  DaemonSet: (ns, n) => `/apis/apps/v1/namespaces/${ns}/daemonsets/${n}`,
  Job: (ns, n) => `/apis/batch/v1/namespaces/${ns}/jobs/${n}`,
  CronJob: (ns, n) => `/apis/batch/v1/namespaces/${ns}/cronjobs/${n}`,
  Pod: (ns, n) => `/api/v1/namespaces/${ns}/pods/${n}`,
};

type Rec = Record<string, unknown>;
const isObj = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
const at = (v: unknown, ...p: string[]): unknown => p.reduce<unknown>((c, k) => (isObj(c) ? c[k] : undefined), v);
const labels = (v: unknown): Record<string, string> =>
  isObj(v) ? Object.fromEntries(Object.entries(v).map(([k, x]) => [k, String(x)])) : {};

/** The pod labels (selector) and service account of a live workload object. */
function liveWorkload(
  kind: string,
  o: unknown,
): { podLabels: Record<string, string>; serviceAccount: string } | string {
  const podSpec =
    kind === 'Pod'
      ? at(o, 'spec')
      : kind === 'CronJob'
        ? at(o, 'spec', 'jobTemplate', 'spec', 'template', 'spec')
        : at(o, 'spec', 'template', 'spec');
  const named = [at(podSpec, 'serviceAccountName'), at(podSpec, 'serviceAccount')].find(
    (x): x is string => typeof x === 'string' && x !== '',
  );
  const serviceAccount = named ?? 'default';
  if (kind === 'Pod') return { podLabels: labels(at(o, 'metadata', 'labels')), serviceAccount };
  if (kind === 'Job' || kind === 'CronJob') {
    const tmpl = kind === 'Job' ? at(o, 'spec', 'template') : at(o, 'spec', 'jobTemplate', 'spec', 'template');
    return { podLabels: labels(at(tmpl, 'metadata', 'labels')), serviceAccount };
  }
  const expressions = at(o, 'spec', 'selector', 'matchExpressions');
  if (Array.isArray(expressions) && expressions.length > 0)
    return 'its selector uses matchExpressions, which an endpointSelector from labels cannot carry';
  const podLabels = labels(at(o, 'spec', 'selector', 'matchLabels'));
  if (Object.keys(podLabels).length === 0) return 'its selector has no matchLabels';
  return { podLabels, serviceAccount };
}

/** The envelopes with their workloads' live labels and service accounts, and what could not be taken live. */
export async function withLiveWorkloads(
  kc: KubeConfig,
  envelopes: readonly Envelope[],
): Promise<{ envelopes: Envelope[]; problems: string[]; changes: string[] }> {
  const problems: string[] = [];
  const changes: string[] = [];
  const out: Envelope[] = [];
  for (const e of envelopes) {
    const w = e.spec.workload;
    const id = `${w.kind} ${w.namespace}/${w.name}`;
    const r = await kubeRequest(kc, 'GET', (PATHS[w.kind] ?? PATHS['Deployment'] ?? (() => ''))(w.namespace, w.name));
    const live = r.status === 200 ? liveWorkload(w.kind, r.body) : undefined;
    if (r.status !== 200 || typeof live !== 'object') {
      const why: string =
        r.status === 404
          ? 'not in the cluster'
          : r.status !== 200
            ? `${r.status} ${typeof r.body['message'] === 'string' ? r.body['message'] : ''}`
            : typeof live === 'string'
              ? live
              : '';
      problems.push(`${id}: ${why}; its envelope's labels are used`);
      out.push(e);
      continue;
    }
    if (JSON.stringify(live.podLabels) !== JSON.stringify(w.podLabels) || live.serviceAccount !== w.serviceAccount)
      changes.push(
        `${id}: pods selected by ${JSON.stringify(live.podLabels)} as ${live.serviceAccount} (envelope: ${JSON.stringify(w.podLabels)} as ${w.serviceAccount || '-'})`,
      );
    out.push({
      ...e,
      spec: { ...e.spec, workload: { ...w, podLabels: live.podLabels, serviceAccount: live.serviceAccount } },
    });
  }
  return { envelopes: out, problems, changes };
}
