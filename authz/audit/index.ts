export { decisionRecord, AUDIT_FORMAT, type DecisionAuditRecord, type AiBomRecord } from './record.js';
export { breakGlassAttestation, toAuditEvent, type BreakGlassAttestation } from './break-glass.js';
export { createAuditSink, type AuditSink, type AuditSinkOptions } from './sink.js';
export { decisionLine } from './decision-line.js';
export { createThreadedAuditSink } from './threaded-sink.js';
export { decisionRow, createDecisionRowFormatter, type DecisionRow } from './decision-row.js';
