export { decisionRecord, AUDIT_FORMAT, type DecisionAuditRecord } from './record.js';
export { createAuditSink, type AuditSink, type AuditSinkOptions } from './sink.js';
