export {
  FINDING_SEVERITIES, FindingSchema, formatFieldPath, formatFinding, hasErrors,
  type Finding, type FindingSeverity,
} from './finding.js';
export { ERROR_CODES, PhiguardError, isPhiguardError, type ErrorCode, type PhiguardErrorOptions } from './phiguard-error.js';
export { ok, err, type Result } from './result.js';
export {
  AUDIT_FORMAT, DECISION_FIELDS, DECISION_ROW_FIELDS, ENTRY_FIELDS, EGRESS_FIELDS, MAX_TIME_MS,
  DecisionRowSchema, DecisionAuditRecordSchema, decisionRow, rowToRecord, decisionRecord,
  type DecisionRow, type DecisionAuditRecord, type AuditField, type AuditLiteralField, type AuditSubField,
  type FieldKind, type FieldKindId, type DecisionSource,
} from './audit-record.js';
