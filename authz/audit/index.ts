export {
  decisionRecord,
  decisionRow,
  rowToRecord,
  DecisionRowSchema,
  DecisionAuditRecordSchema,
  AUDIT_FORMAT,
  type DecisionAuditRecord,
  type DecisionRow,
} from '../model/index.js';
export { type AiBomRecord } from './record.js';
export { breakGlassAttestation, toAuditEvent, type BreakGlassAttestation } from './break-glass.js';
export { createAuditSink, type AuditSink, type AuditSinkOptions } from './sink.js';
export { decisionLine } from './decision-line.js';
export { createThreadedAuditSink } from './threaded-sink.js';
export { createDecisionRowFormatter } from './decision-row.js';
