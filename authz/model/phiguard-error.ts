/**
 * The one error type phiguard throws or returns: a closed `code` saying what kind of failure it is, the underlying
 * `cause` kept, and the findings that explain it when the failure is an input that did not validate.
 */
import type { Finding } from './finding.js';

/**
 * What failed. Closed set; callers branch on it (the CLI maps input failures to exit 2, the service refuses to
 * start).
 */
export const ERROR_CODES = {
  /** A configuration file or setting is invalid (BAA registry, egress credentials, CRDs, expectations). */
  config: 'config',
  /** The agent policy set does not load or compile. */
  policy: 'policy',
  /** Recorded data is malformed or inconsistent (envelopes, their merge). */
  data: 'data',
  /** A file or directory cannot be read or written. */
  io: 'io',
  /** A malformed message on the wire. */
  wire: 'wire',
  /** The command line is wrong. */
  usage: 'usage',
  /** The service cannot start. */
  startup: 'startup',
  /** A policy expression could not be evaluated (a CEL runtime error, e.g. No such key). */
  evaluation: 'evaluation',
  /** A broken invariant, or an internal control-flow signal that never leaves its module. */
  internal: 'internal',
} as const;
export type ErrorCode = (typeof ERROR_CODES)[keyof typeof ERROR_CODES];

export interface PhiguardErrorOptions {
  /** The error this one explains (an errno exception, a parser error, ...). */
  cause?: unknown;
  /** The located problems behind the error, for inputs that did not validate. */
  findings?: readonly Finding[];
}

/** phiguard's error. `message` is for people; branch on `code`; `findings` locate input problems. */
export class PhiguardError extends Error {
  override readonly name: string = 'PhiguardError';
  readonly code: ErrorCode;
  readonly findings: Finding[];

  constructor(code: ErrorCode, message: string, options: PhiguardErrorOptions = {}) {
    super(message, options.cause !== undefined ? { cause: options.cause } : undefined);
    this.code = code;
    this.findings = [...(options.findings ?? [])];
  }
}

/** Whether `e` is a PhiguardError (of one of `codes`, when given). */
export function isPhiguardError(e: unknown, ...codes: readonly ErrorCode[]): e is PhiguardError {
  return e instanceof PhiguardError && (codes.length === 0 || codes.includes(e.code));
}
