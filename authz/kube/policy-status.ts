/**
 * AgentPolicy `status`, in the Kubernetes condition convention
 * (https://github.com/kubernetes/community/blob/master/contributors/devel/sig-architecture/api-conventions.md#typical-status-properties):
 * one `Ready` condition per object with `observedGeneration`, and the version of the policy set the service enforces.
 * - `True`/`Compiled`: this generation is part of the set in force;
 * - `False`/`Invalid`: it does not validate or compile; the message lists each error with its field path;
 * - `False`/`Blocked`: it compiles, but another object is invalid, so the whole new set was rejected and the last good
 *   set (`policyVersion`) stays in force, as for a policy directory.
 * Written with server-side apply on the `status` subresource (field manager `phiguard-serve`, forced: the service
 * owns status); an object whose status already says the same is not written, so the write's own watch event does
 * not loop.
 */
import type { KubeConfig, KubernetesObject } from '@kubernetes/client-node';
import type { Finding } from '../model/index.js';
import { AGENT_POLICY, agentPolicyPath, sourceOf } from './agent-policy-resource.js';
import { kubeRequest } from './kube-request.js';

export interface ReadyCondition {
  type: 'Ready';
  status: 'True' | 'False';
  reason: 'Compiled' | 'Invalid' | 'Blocked';
  message: string;
  observedGeneration: number;
  lastTransitionTime: string;
}

export interface AgentPolicyStatus {
  observedGeneration: number;
  policyVersion: string;
  conditions: ReadyCondition[];
}

export interface StatusWriter {
  /** Brings every object's status in line with the outcome (`findings`: the errors of a rejected set, else []). */
  update(objects: readonly KubernetesObject[], version: string, findings: readonly Finding[]): void;
}

const MAX_MESSAGE = 4000;

/** The status an object should have. */
export function statusFor(o: KubernetesObject, version: string, findings: readonly Finding[]): AgentPolicyStatus {
  const generation = o.metadata?.generation ?? 0;
  const own = findings.filter((f) => f.severity === 'error' && f.file === sourceOf(o));
  const blocking = [...new Set(findings.filter((f) => f.severity === 'error').map((f) => f.file))];
  const old = ((o as { status?: Partial<AgentPolicyStatus> }).status?.conditions ?? []).find((c) => c.type === 'Ready');
  let cond: Omit<ReadyCondition, 'lastTransitionTime' | 'observedGeneration' | 'type'>;
  if (own.length > 0) {
    const lines = own.map((f) => `${f.path === '' ? '' : `${f.path}: `}${f.message} (${f.code})`).join('; ');
    cond = { status: 'False', reason: 'Invalid', message: lines.slice(0, MAX_MESSAGE) };
  } else if (blocking.length > 0) {
    cond = {
      status: 'False',
      reason: 'Blocked',
      message: `not in force: the policy set was rejected because ${blocking.join(', ')} did not compile; policy version ${version} stays in force`,
    };
  } else {
    cond = { status: 'True', reason: 'Compiled', message: `in force in policy version ${version}` };
  }
  const same = old?.status === cond.status && old.reason === cond.reason;
  return {
    observedGeneration: generation,
    policyVersion: version,
    conditions: [
      {
        type: 'Ready',
        ...cond,
        observedGeneration: generation,
        lastTransitionTime:
          same && old.lastTransitionTime ? old.lastTransitionTime : new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
      },
    ],
  };
}

function sameStatus(a: Partial<AgentPolicyStatus> | undefined, b: AgentPolicyStatus): boolean {
  const strip = (s: Partial<AgentPolicyStatus> | undefined): string =>
    JSON.stringify([
      s?.observedGeneration,
      s?.policyVersion,
      (s?.conditions ?? []).map((c) => [c.type, c.status, c.reason, c.message, c.observedGeneration]),
    ]);
  return strip(a) === strip(b);
}

export function createStatusWriter(
  kc: KubeConfig,
  fieldManager: string,
  onError?: (source: string, error: unknown) => void,
): StatusWriter {
  /** The last status sent per object (uid), so a write in flight is not repeated. */
  const sent = new Map<string, string>();
  return {
    update(objects, version, findings) {
      for (const o of objects) {
        const next = statusFor(o, version, findings);
        const current = (o as { status?: Partial<AgentPolicyStatus> }).status;
        const key = `${o.metadata?.uid ?? sourceOf(o)}`;
        const fingerprint = JSON.stringify([
          next.observedGeneration,
          next.policyVersion,
          next.conditions[0]?.reason,
          next.conditions[0]?.message,
        ]);
        if (sameStatus(current, next) || sent.get(key) === fingerprint) continue;
        sent.set(key, fingerprint);
        const name = o.metadata?.name ?? '';
        const body = {
          apiVersion: AGENT_POLICY.apiVersion,
          kind: AGENT_POLICY.kind,
          metadata: { name, namespace: o.metadata?.namespace },
          status: next,
        };
        kubeRequest(kc, 'PATCH', `${agentPolicyPath(o.metadata?.namespace)}/${name}/status`, {
          query: { fieldManager, force: 'true' },
          body: JSON.stringify(body),
          contentType: 'application/apply-patch+yaml',
        }).then(
          (r) => {
            if (r.status >= 300) {
              sent.delete(key);
              onError?.(sourceOf(o), new Error(`status write: ${r.status} ${JSON.stringify(r.body['message'] ?? '')}`));
            }
          },
          (e: unknown) => {
            sent.delete(key);
            onError?.(sourceOf(o), e);
          },
        );
      }
    },
  };
}
