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
export { breakGlassAttestation, type BreakGlassAttestation } from './break-glass.js';
export {
  auditEvents,
  AUDIT_EVENT_SCOPES,
  BALP_ENTITY_TYPE,
  type AuditEvent,
  type AuditEventInput,
  type AuditEventScope,
} from './audit-event.js';
export { createAuditSink, type AuditSink, type AuditSinkOptions } from './sink.js';
export { decisionLine } from './decision-line.js';
export { createThreadedAuditSink } from './threaded-sink.js';
export { createDecisionRowFormatter } from './decision-row.js';
