export { accounting, aibom, baaViolations, breakglass, formatRows, type Period } from './reports.js';
export { auditRecords, parseTime, type AuditRecord, type AuditRow } from './read-audit.js';
