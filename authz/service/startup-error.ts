/** A configuration or source that keeps the service from starting: it never starts open. */
import { isPhiguardError, PhiguardError } from '../model/index.js';

/**
 * A `startup` PhiguardError. The findings of a PhiguardError cause are carried over; a cause without findings has
 * its message appended, so the operator sees what failed.
 */
export function startupError(message: string, cause?: unknown): PhiguardError {
  const findings = isPhiguardError(cause) ? cause.findings : [];
  const detail = findings.length === 0 && cause instanceof Error ? `: ${cause.message}` : '';
  return new PhiguardError('startup', `${message}${detail}`, {
    ...(cause !== undefined ? { cause } : {}),
    findings,
  });
}
