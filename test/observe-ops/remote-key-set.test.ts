/**
 * A JWKS URL's key set (authz/identity/remote-key-set.ts) with an injected fetch and clock: unavailable is told apart
 * from a bad token, a held set outlives failed refreshes up to its maximum age and no longer, a due refresh is waited
 * for only while fetches succeed, fetch failures are reported with a short cause. And the log throttle used for them.
 */
import { describe, expect, test } from '@jest/globals';
import { exportJWK, generateKeyPair, SignJWT, jwtVerify } from 'jose';
import { createRemoteKeySet, KeysUnavailable } from '../../authz/identity/index.js';
import { createLogThrottle } from '../../authz/service/log-throttle.js';

const pair = await generateKeyPair('ES256', { extractable: true });
const JWKS = JSON.stringify({ keys: [{ ...(await exportJWK(pair.publicKey)), kid: 'k1', alg: 'ES256' }] });
const token = await new SignJWT({})
  .setProtectedHeader({ alg: 'ES256', kid: 'k1' })
  .setSubject('s')
  .sign(pair.privateKey);

type Answer = { status: number; body: string } | Error;

/** A fetch answering from a script (the last answer repeats), counting calls. */
function scripted(answers: Answer[]): { fetch: typeof fetch; calls: () => number } {
  let calls = 0;
  const f = (() => {
    const a = answers[Math.min(calls, answers.length - 1)] ?? new Error('no answer');
    calls++;
    if (a instanceof Error) return Promise.reject(a);
    return Promise.resolve(new Response(a.body, { status: a.status }));
  }) as typeof fetch;
  return { fetch: f, calls: () => calls };
}

const refused = (): Error => Object.assign(new TypeError('fetch failed'), { cause: { code: 'ECONNREFUSED' } });

describe('remote key set', () => {
  test('a held set outlives failed refreshes until its maximum age, then keys are unavailable', async () => {
    let now = 1_000_000;
    const results: string[] = [];
    const f = scripted([{ status: 200, body: JWKS }, refused()]);
    const ks = createRemoteKeySet('http://idp.test/jwks', {
      fetch: f.fetch,
      now: () => now,
      refreshMs: 300_000,
      maxAgeMs: 900_000,
      onFetch: (r, cause) => results.push(`${r}${cause ? `:${cause}` : ''}`),
    });
    try {
      await ks.refresh();
      expect(ks.status()).toEqual({ kind: 'url', available: true, loadedAtMs: 1_000_000 });
      await expect(jwtVerify(token, ks.keys)).resolves.toBeDefined();
      now += 301_000; // a refresh is due: waited for, and it fails
      await expect(jwtVerify(token, ks.keys)).resolves.toBeDefined();
      expect(results).toEqual(['success', 'failure:ECONNREFUSED']);
      const calls = f.calls();
      await expect(jwtVerify(token, ks.keys)).resolves.toBeDefined(); // after a failure, not waited for again
      expect(f.calls()).toBe(calls);
      expect(ks.current()).toBe(false); // cached verifications are checked again
      now += 600_000; // past the maximum age
      expect(ks.status().available).toBe(false);
      await expect(jwtVerify(token, ks.keys)).rejects.toBeInstanceOf(KeysUnavailable);
    } finally {
      ks.close();
    }
  });

  test.each([
    ['an HTTP error', { status: 503, body: '' }, 'http-503'],
    ['not JSON', { status: 200, body: '<html>' }, 'not-json'],
    ['JSON without keys', { status: 200, body: '{"x":1}' }, 'not-a-jwk-set'],
    ['a refused connection', refused(), 'ECONNREFUSED'],
    ['a timeout', Object.assign(new Error('t'), { name: 'TimeoutError' }), 'timeout'],
  ] as Array<[string, Answer, string]>)(
    'never held: %s is keys unavailable (cause %s), not a token error',
    async (_n, a, cause) => {
      const causes: string[] = [];
      const ks = createRemoteKeySet('http://idp.test/jwks', {
        fetch: scripted([a]).fetch,
        onFetch: (_r, c) => causes.push(c),
      });
      try {
        await ks.refresh();
        expect(ks.status()).toEqual({ kind: 'url', available: false, loadedAtMs: undefined });
        await expect(jwtVerify(token, ks.keys)).rejects.toBeInstanceOf(KeysUnavailable);
        expect(causes[0]).toBe(cause);
      } finally {
        ks.close();
      }
    },
  );
});

describe('log throttle', () => {
  test('one line per cause per interval; the next says how many were left out', () => {
    let now = 0;
    const th = createLogThrottle(60_000, () => now);
    expect(th.take('ECONNREFUSED')).toBe(0);
    expect(th.take('ECONNREFUSED')).toBeUndefined();
    expect(th.take('timeout')).toBe(0);
    now = 59_999;
    expect(th.take('ECONNREFUSED')).toBeUndefined();
    now = 60_000;
    expect(th.take('ECONNREFUSED')).toBe(2);
    expect(th.take('ECONNREFUSED')).toBeUndefined();
  });
});
