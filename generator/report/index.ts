export {
  accounting,
  aibom,
  baaViolations,
  breakglass,
  REGULATION,
  type Period,
  type ReadInput,
  type Report,
  type Section,
} from './reports.js';
export { auditRecords, newStats, parseTime, type AuditRecord, type AuditRow, type ReadStats } from './read-audit.js';
export { formatReport, formatRows, headerOf, type ReportFormat } from './format-report.js';
