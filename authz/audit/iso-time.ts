/**
 * `Date#toISOString` with a one-entry cache: checks arrive several per millisecond. One cache per time series
 * (decision time, request time), so the two do not evict each other. Same output as `toISOString()` (and the same
 * RangeError for an invalid date).
 */
export function createIsoTime(): (d: Date) => string {
  let lastMs = Number.NaN;
  let lastIso = '';
  return (d) => {
    const ms = d.getTime();
    if (ms !== lastMs) {
      lastIso = d.toISOString();
      lastMs = ms;
    }
    return lastIso;
  };
}
