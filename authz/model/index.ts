export {
  FINDING_SEVERITIES, FindingSchema, formatFieldPath, formatFinding, hasErrors,
  type Finding, type FindingSeverity,
} from './finding.js';
export { ERROR_CODES, PhiguardError, isPhiguardError, type ErrorCode, type PhiguardErrorOptions } from './phiguard-error.js';
export { ok, err, type Result } from './result.js';
