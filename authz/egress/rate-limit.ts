/**
 * Per-agent egress rate limits: token buckets, per replica (with R replicas the fleet-wide ceiling is R × the
 * limit). The rate-limit lane asks whether a token is available; the effects step takes it for the allowed request.
 */
export interface RateLimiter {
  /** Whether the agent has a token now (nothing is taken). */
  available(agent: string, limit: { requests: number; perSeconds: number }, nowMs: number): boolean;
  /** Takes one token for the agent; false when the agent is over its limit. */
  take(agent: string, limit: { requests: number; perSeconds: number }, nowMs: number): boolean;
}

interface Bucket {
  tokens: number;
  at: number;
}

export function createRateLimiter(): RateLimiter {
  const buckets = new Map<string, Bucket>();
  const refilled = (agent: string, limit: { requests: number; perSeconds: number }, nowMs: number): Bucket => {
    const rate = limit.requests / (limit.perSeconds * 1000);
    const b = buckets.get(agent) ?? { tokens: limit.requests, at: nowMs };
    return { tokens: Math.min(limit.requests, b.tokens + Math.max(0, nowMs - b.at) * rate), at: nowMs };
  };
  return {
    available: (agent, limit, nowMs) => refilled(agent, limit, nowMs).tokens >= 1,
    take(agent, limit, nowMs) {
      const b = refilled(agent, limit, nowMs);
      buckets.set(agent, b);
      if (b.tokens < 1) return false;
      b.tokens -= 1;
      return true;
    },
  };
}
