/**
 * At most one log line per cause per interval, for conditions that repeat on every Check or every retry (a JWKS URL
 * that does not answer, Checks denied for want of keys): the first occurrence is logged at once, the ones during the
 * interval are counted, and the next line logged says how many were left out (`suppressed`).
 */

/** A throttle: `take(cause)` says whether to log now, and how many lines of that cause were left out since. */
export interface LogThrottle {
  /** undefined: do not log (counted); a number: log now, with this many left out since the last line of `cause`. */
  take(cause: string): number | undefined;
}

/**
 * @param intervalMs Least time between two lines of one cause.
 * @param now Clock (tests).
 * @returns A throttle keeping one entry per cause seen (causes are short closed-ish codes, never request values).
 */
export function createLogThrottle(intervalMs: number, now: () => number = Date.now): LogThrottle {
  const causes = new Map<string, { lastMs: number; suppressed: number }>();
  return {
    take(cause) {
      const t = now();
      const c = causes.get(cause);
      if (c !== undefined && t - c.lastMs < intervalMs) {
        c.suppressed++;
        return undefined;
      }
      const suppressed = c?.suppressed ?? 0;
      causes.set(cause, { lastMs: t, suppressed: 0 });
      return suppressed;
    },
  };
}
