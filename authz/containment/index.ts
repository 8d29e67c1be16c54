export {
  triggerOf,
  contextDigest,
  contextMatcher,
  containmentStateOf,
  ContainmentStateSchema,
  CONTAINMENT_ACTIONS,
  CONTAINMENT_TRIGGERS,
  type ContainmentState,
  type ContainmentEntryState,
  type ContainmentAction,
  type ContainmentTrigger,
} from './containment.js';
export {
  createContainmentStore,
  type ContainmentStore,
  type ContainmentStoreOptions,
  type ContainmentEnd,
} from './containment-store.js';
export {
  containmentFile,
  inForce,
  liftContainment,
  listContainmentFiles,
  readContainmentFile,
  CONTAINMENT_SUFFIX,
  type LiftRecord,
} from './containment-files.js';
export { createPatientContext, type PatientContext } from './patient-context.js';
