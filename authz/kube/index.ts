export {
  AGENT_POLICY,
  DESCRIPTION_ANNOTATION,
  NAMESPACE_BOUNDARY,
  agentPolicyPath,
  policyDocumentText,
} from './agent-policy-resource.js';
export {
  compileAgentPolicies,
  parsePoliciesFrom,
  startClusterPolicySource,
  type ClusterPolicyOptions,
  type ClusterPolicySource,
} from './cluster-policy-store.js';
export { currentNamespace, loadKubeConfig } from './kube-config.js';
export { kubeRequest, type KubeResponse } from './kube-request.js';
export { statusFor, type AgentPolicyStatus, type ReadyCondition } from './policy-status.js';
export { startReflector, statusOf, type Reflector, type ReflectorOptions } from './reflector.js';
export { openPolicies, startServicePolicySource } from './service-policies.js';
export { startClusterContainmentStore, type ClusterContainmentOptions } from './cluster-containment-store.js';
export {
  applyContainmentState,
  containmentObject,
  containmentObjectName,
  CONTAINMENT_LABEL,
  liftClusterContainment,
  listContainmentStates,
} from './containment-configmap.js';
export { containmentNamespace, startServiceContainment } from './service-containment.js';
