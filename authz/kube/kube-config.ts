/**
 * The Kubernetes client configuration: a kubeconfig file (`--kubeconfig`, else `$KUBECONFIG`, else `~/.kube/config`)
 * or, inside a pod, the mounted service account token (client-node's `loadFromDefault`, which follows the same order
 * as kubectl: https://kubernetes.io/docs/concepts/configuration/organize-cluster-access-kubeconfig/).
 */
import { KubeConfig } from '@kubernetes/client-node';

export function loadKubeConfig(file?: string, context?: string): KubeConfig {
  const kc = new KubeConfig();
  if (file !== undefined) kc.loadFromFile(file);
  else kc.loadFromDefault();
  if (context !== undefined) kc.setCurrentContext(context);
  return kc;
}

/** The namespace of the current context (a pod's own namespace in-cluster), `default` when none is set. */
export function currentNamespace(kc: KubeConfig): string {
  const ctx = kc.getContextObject(kc.getCurrentContext());
  return ctx?.namespace ?? 'default';
}
