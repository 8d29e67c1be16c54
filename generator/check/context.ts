/** What the rules look at: the manifests, the agent workloads among them, and optional phiguard inputs. */
import type { BaaRegistry, CompiledPolicySet } from '../../authz/index.js';
import type { CrdValidator } from '../cilium/index.js';
import type { RuleId } from './catalog.js';
import type { ManifestDoc } from './manifests.js';

export interface Workload {
  doc: ManifestDoc;
  kind: string;
  name: string;
  namespace: string;
  podLabels: Record<string, string>;
  annotations: Record<string, string>;
  serviceAccount: string;
  podSpec: Record<string, unknown>;
  /** Path of the pod spec inside the document. */
  podSpecPath: Array<string | number>;
  isAgent: boolean;
}

export interface CheckContext {
  docs: ManifestDoc[];
  workloads: Workload[];
  agents: Workload[];
  validators: Readonly<Record<string, CrdValidator>>;
  registry: BaaRegistry | undefined;
  policySet: CompiledPolicySet | undefined;
  trustDomain: string;
  now: Date;
  /** Records a finding of rule `ruleId` at a document (the line of `pathParts` in it) or at a file and line. */
  report(
    ruleId: RuleId,
    doc: ManifestDoc | { file: string; line: number },
    message: string,
    pathParts?: ReadonlyArray<string | number>,
  ): void;
}

export type Rec = Record<string, unknown>;
export const isObj = (v: unknown): v is Rec => typeof v === 'object' && v !== null && !Array.isArray(v);
export const arr = (v: unknown): unknown[] => (Array.isArray(v) ? v : []);
export const str = (v: unknown): string => (typeof v === 'string' ? v : '');
/** The message type of an Any (`@type` after its last slash), or ''. */
export const typeOf = (any: unknown): string => {
  const t = isObj(any) ? str(any['@type']) : '';
  return t.slice(t.lastIndexOf('/') + 1);
};

export function strMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (isObj(v))
    for (const [k, x] of Object.entries(v))
      if (typeof x === 'string' || typeof x === 'number' || typeof x === 'boolean') out[k] = String(x);
  return out;
}

const POD_SPEC_PATHS: Record<string, Array<string>> = {
  Pod: ['spec'],
  Deployment: ['spec', 'template', 'spec'],
  StatefulSet: ['spec', 'template', 'spec'],
  DaemonSet: ['spec', 'template', 'spec'],
  ReplicaSet: ['spec', 'template', 'spec'],
  Job: ['spec', 'template', 'spec'],
  CronJob: ['spec', 'jobTemplate', 'spec', 'template', 'spec'],
};

export function extractWorkloads(
  docs: readonly ManifestDoc[],
  opts: { agentSelector: Record<string, string>; agentNamespaces: readonly string[]; defaultNamespace: string },
): Workload[] {
  const out: Workload[] = [];
  for (const doc of docs) {
    const kind = str(doc.value['kind']);
    const specPath = POD_SPEC_PATHS[kind];
    if (!specPath) continue;
    let podSpec: unknown = doc.value;
    for (const k of specPath) podSpec = isObj(podSpec) ? podSpec[k] : undefined;
    if (!isObj(podSpec)) continue;
    const meta = isObj(doc.value['metadata']) ? doc.value['metadata'] : {};
    const templateMetaPath = specPath.slice(0, -1).concat('metadata');
    let tmeta: unknown = doc.value;
    for (const k of templateMetaPath) tmeta = isObj(tmeta) ? tmeta[k] : undefined;
    const podMeta = kind === 'Pod' ? meta : isObj(tmeta) ? tmeta : {};
    const podLabels = strMap(podMeta['labels']);
    const annotations = { ...strMap(meta['annotations']), ...strMap(podMeta['annotations']) };
    const namespace = str(meta['namespace']) || opts.defaultNamespace;
    const labelsForSelection = { ...strMap(meta['labels']), ...podLabels };
    const isAgent =
      Object.entries(opts.agentSelector).every(([k, v]) => labelsForSelection[k] === v) ||
      opts.agentNamespaces.includes(namespace);
    out.push({
      doc,
      kind,
      name: str(meta['name']),
      namespace,
      podLabels,
      annotations,
      serviceAccount: str(podSpec['serviceAccountName']) || str(podSpec['serviceAccount']) || 'default',
      podSpec,
      podSpecPath: specPath,
      isAgent,
    });
  }
  return out;
}
