/**
 * Per-agent egress rate limits (token bucket, per replica: with R replicas the fleet-wide ceiling is R × the limit,
 * documented in the README). A request over the limit is denied (429) and raises an event.
 */
export interface RateLimiter {
  /** Takes one token for the agent; false when the agent is over its limit. */
  take(agent: string, limit: { requests: number; perSeconds: number }, nowMs: number): boolean;
}

export function createRateLimiter(): RateLimiter {
  const buckets = new Map<string, { tokens: number; at: number }>();
  return {
    take(agent, limit, nowMs) {
      const rate = limit.requests / (limit.perSeconds * 1000);
      const b = buckets.get(agent) ?? { tokens: limit.requests, at: nowMs };
      b.tokens = Math.min(limit.requests, b.tokens + Math.max(0, nowMs - b.at) * rate);
      b.at = nowMs;
      buckets.set(agent, b);
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
  };
}
