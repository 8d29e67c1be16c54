export {
  createContainmentStore, triggerOf, hashPatient, ContainmentStateSchema, CONTAINMENT_ACTIONS, CONTAINMENT_TRIGGERS,
  type ContainmentStore, type ContainmentState, type ContainmentAction, type ContainmentTrigger,
} from './containment.js';
export { createPatientContext, type PatientContext } from './patient-context.js';
