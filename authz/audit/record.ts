/**
 * Audit records other than the decision record (authz/model/audit-record.ts defines that one, and `AUDIT_FORMAT`).
 * Every record of the audit trail (HIPAA §164.312(b) audit controls) carries the same `format`.
 */
import { AUDIT_FORMAT } from '../model/index.js';

export { AUDIT_FORMAT };

/** The first time a replica sees an agent contact an outside endpoint (AI bill of materials). */
export interface AiBomRecord {
  format: typeof AUDIT_FORMAT;
  type: 'aibom-first-contact';
  time: string;
  agent: string;
  principal: string;
  endpoint: string;
  covered: boolean;
  baaStatus: string;
  vendor: string;
  agreementId: string;
  registryVersion: string;
  decision: string;
}
