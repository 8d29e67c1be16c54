/**
 * `Date#toISOString` of an epoch-millisecond time, with a one-entry cache: checks arrive several per millisecond. One
 * cache per time series (decision time, request time), so the two do not evict each other. Same output as
 * `new Date(ms).toISOString()` (and the same RangeError for a time that is not a valid date).
 */
export function createIsoTime(): (ms: number) => string {
  let lastMs = Number.NaN;
  let lastIso = '';
  return (ms) => {
    if (ms !== lastMs) {
      lastIso = new Date(ms).toISOString();
      lastMs = ms;
    }
    return lastIso;
  };
}
