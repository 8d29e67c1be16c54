/** A configuration or source that keeps the service from starting: it never starts open. */
import { isPhiguardError, PhiguardError } from '../model/index.js';

/** A `startup` PhiguardError; the findings of a PhiguardError cause are carried over. */
export function startupError(message: string, cause?: unknown): PhiguardError {
  return new PhiguardError('startup', message, {
    ...(cause !== undefined ? { cause } : {}),
    findings: isPhiguardError(cause) ? cause.findings : [],
  });
}
