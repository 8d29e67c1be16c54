/**
 * The outcome of an operation that fails without throwing: a value, or an error (a PhiguardError unless a caller
 * needs something else). Loaders, parsers and compilers return it; the caller decides whether a failure is fatal.
 */
import type { PhiguardError } from './phiguard-error.js';

export type Result<T, E = PhiguardError> = { ok: true; value: T } | { ok: false; error: E };

/** A success. */
export function ok<T>(value: T): { ok: true; value: T } {
  return { ok: true, value };
}

/** A failure. */
export function err<E>(error: E): { ok: false; error: E } {
  return { ok: false, error };
}
