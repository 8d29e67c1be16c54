/** A configuration or source that stops the service from starting; never starts open. */
import type { Finding } from '../policy/index.js';

export class StartupError extends Error {
  constructor(
    message: string,
    readonly findings: Finding[] = [],
  ) {
    super(message);
    this.name = 'StartupError';
  }
}
