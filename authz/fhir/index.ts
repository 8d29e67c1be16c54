export {
  createFhirRequestParser,
  type FhirParserOptions,
  type FhirRequestParser,
  type HttpRequestView,
} from './parse-request.js';
export {
  RESOURCE_TYPES,
  COMPARTMENT_TYPES,
  PATIENT_COMPARTMENT_PARAMS,
  inPatientCompartment,
  patientParamsFor,
} from './resource-types.js';
