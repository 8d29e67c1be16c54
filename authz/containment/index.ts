export {
  triggerOf,
  hashPatient,
  ContainmentStateSchema,
  CONTAINMENT_ACTIONS,
  CONTAINMENT_TRIGGERS,
  type ContainmentState,
  type ContainmentAction,
  type ContainmentTrigger,
} from './containment.js';
export { createContainmentStore, type ContainmentStore } from './containment-store.js';
export { createPatientContext, type PatientContext } from './patient-context.js';
