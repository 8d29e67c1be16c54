export {
  EnvelopeSchema,
  WorkloadSchema,
  EgressSchema,
  ENVELOPE_API_VERSION,
  type Envelope,
  type EnvelopeEgress,
  type Workload,
} from './envelope.js';
export { summarize, type EnvelopeSummary } from './summary.js';
export {
  parseEnvelope,
  readEnvelope,
  readEnvelopes,
  serializeEnvelope,
  envelopeFileName,
  type EnvelopeFile,
} from './envelope-io.js';
export { createEnvelopeRecorder, type EnvelopeRecorder, type RecorderOptions } from './recorder.js';
export { hllAdd, hllCount, hllNew, hllEncode, hllDecode, hllMerge } from './hll.js';
export { fhirPathTemplate, genericPathTemplate } from './path-template.js';
