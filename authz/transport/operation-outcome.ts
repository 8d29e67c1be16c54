/**
 * The FHIR R4 OperationOutcome (operationoutcome.html) sent with a deny. It names the rule and the decision id so a
 * privacy officer can find the audit record; it never carries request values (no PHI, no tokens).
 */
import type { Decision } from '../model/index.js';

/** issue.code from the IssueType value set (valueset-issue-type.html). */
function issueCode(d: Pick<Decision, 'reason' | 'status'>): string {
  switch (d.reason) {
    case 'invalid-request':
      return 'invalid';
    case 'invalid-token':
      return 'security';
    // The identity provider's keys could not be fetched: retry later (IssueType `transient`).
    case 'keys-unavailable':
      return 'transient';
    case 'internal-error':
    case 'audit-unavailable':
    case 'no-policy':
      return 'exception';
    case 'rate-limited':
      return 'throttled';
    case 'contained':
      return 'suppressed';
    case 'rule-allow':
    case 'rule-deny':
    case 'no-rule-matched':
    case 'unknown-agent':
    case 'ambiguous-agent':
    case 'rule-error':
    case 'break-glass':
    case 'break-glass-expired':
    case 'protected-endpoint':
    case 'baa-not-covered':
    case 'unresolved-patient-scope':
      return 'forbidden';
  }
}

export function operationOutcome(
  d: Pick<Decision, 'outcome' | 'reason' | 'message' | 'status' | 'agent' | 'rule' | 'policyVersion'>,
  decisionId: string,
): string {
  return JSON.stringify({
    resourceType: 'OperationOutcome',
    issue: [
      {
        severity: 'error',
        code: issueCode(d),
        details: {
          coding: [{ system: 'https://phiguard.io/fhir/CodeSystem/decision-reason', code: d.reason }],
          text: d.message,
        },
        diagnostics: `phiguard decision ${decisionId}: rule "${d.rule}"${d.agent ? ` of agent policy "${d.agent}"` : ''}`,
      },
    ],
  });
}
