export { APPLIED_KINDS, applyItems, objectName, type ApplyItem } from './apply-set.js';
export {
  apiErrorCode,
  apiErrorMessage,
  listKinds,
  liveDoc,
  liveSource,
  type LiveKind,
  type LiveList,
} from './live-objects.js';
export { diffObjects, formatChanges, leafFields, type FieldChange } from './object-diff.js';
export { FIELD_MANAGER, serverSideApply, type ApplyOptions, type ApplyResult } from './server-side-apply.js';
export {
  agentInventory,
  DISCOVER_KINDS,
  inventoryTable,
  type AgentWorkload,
  type InventoryOptions,
  type RbacReach,
} from './agent-inventory.js';
export { MODEL_ENDPOINTS, modelVendor, type ModelEndpoint } from './model-endpoints.js';
export { effectiveMtls, type MtlsMode } from './mtls-mode.js';
export { CHECK_KINDS, readClusterInputs, type ClusterInputs } from './cluster-check.js';
export { POLICY_REPORT, policyReportOutput, policyReports, policyReportServed } from './policy-report.js';
export { withLiveWorkloads } from './live-workloads.js';
