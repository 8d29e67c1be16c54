export {
  FINDING_SEVERITIES,
  FindingSchema,
  formatFieldPath,
  formatFinding,
  hasErrors,
  type Finding,
  type FindingSeverity,
} from './finding.js';
export {
  ERROR_CODES,
  PhiguardError,
  isPhiguardError,
  type ErrorCode,
  type PhiguardErrorOptions,
} from './phiguard-error.js';
export { ok, err, type Result } from './result.js';
export {
  UNRESOLVED_KINDS,
  isBroadUnresolvedPattern,
  isUnresolvedPattern,
  unresolvedKind,
  unresolvedPatternCovers,
  type UnresolvedKind,
  type UnresolvedKindName,
} from './unresolved-reasons.js';
export {
  FHIR_INTERACTIONS,
  CEL_ENTRY_FIELDS,
  CEL_VARIABLES,
  emptyFhirAttributes,
  type FhirInteraction,
  type FhirEntryAttributes,
  type FhirAttributes,
  type RequestAttributesModel,
} from './attributes.js';
export { HttpRequestSchema, CheckInputSchema, requestTimeMs, type CheckInput } from './check-input.js';
export {
  DECISION_REASONS,
  BUILTIN_RULES,
  denyDecision,
  decisionLabel,
  type DecisionReason,
  type RuleTrace,
  type Decision,
  type LaneUse,
  type EgressDecisionInfo,
  type Injection,
} from './decision.js';
export {
  AUDIT_FORMAT,
  DECISION_FIELDS,
  DECISION_ROW_FIELDS,
  ENTRY_FIELDS,
  EGRESS_FIELDS,
  MAX_TIME_MS,
  DecisionRowSchema,
  DecisionAuditRecordSchema,
  decisionRow,
  rowToRecord,
  decisionRecord,
  type DecisionRow,
  type DecisionAuditRecord,
  type AuditField,
  type AuditLiteralField,
  type AuditSubField,
  type FieldKind,
  type FieldKindId,
  type DecisionSource,
} from './audit-record.js';
export { traceIds, loggableRequestId, NO_TRACE, type TraceIds } from './trace-context.js';
