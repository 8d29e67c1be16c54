/** Cached, id-patched CheckResponses are byte-for-byte what protobufjs encodes for the same decision and id. */
import { randomUUID } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { DECISION_REASONS, type Decision } from '../../authz/index.js';
import { toCheckResponse } from '../../authz/transport/index.js';
import { createResponseEncoder } from '../../authz/transport/index.js';
import { authzRoot } from '../../authz/transport/grpc-codec.js';

const Res = authzRoot().lookupType('envoy.service.auth.v3.CheckResponse');
const fresh = (d: Decision, id: string): Buffer =>
  Buffer.from(Res.encode(Res.fromObject(toCheckResponse(d, id))).finish());

const base: Decision = {
  outcome: 'allow',
  verdict: 'allow',
  mode: 'enforce',
  agent: 'scribe',
  rule: 'r1',
  reason: DECISION_REASONS.ruleAllow,
  status: 200,
  message: '',
  policyVersion: 'v1',
  trace: [],
};
const shapes: Decision[] = [
  base,
  { ...base, rule: 'r2' },
  { ...base, policyVersion: 'v2' },
  { ...base, agent: 'cds' },
  {
    ...base,
    outcome: 'deny',
    verdict: 'deny',
    reason: DECISION_REASONS.ruleDeny,
    status: 403,
    message: 'Denied by rule "r1"',
  },
  {
    ...base,
    outcome: 'deny',
    verdict: 'deny',
    reason: DECISION_REASONS.ruleDeny,
    status: 451,
    message: 'Denied by rule "r1"',
  },
  {
    ...base,
    outcome: 'deny',
    verdict: 'deny',
    reason: DECISION_REASONS.ruleDeny,
    status: 403,
    message: 'another message',
  },
  { ...base, verdict: 'deny', mode: 'audit', reason: DECISION_REASONS.ruleDeny },
  {
    ...base,
    outcome: 'deny',
    verdict: 'deny',
    reason: DECISION_REASONS.ruleError,
    status: 403,
    message: 'contains @@PHIGUARD-DECISION-ID-PLACEHOLDER@@',
  },
];

describe('response cache', () => {
  test('every shape, repeatedly and interleaved, encodes as protobufjs does', () => {
    const enc = createResponseEncoder();
    for (let round = 0; round < 3; round++) {
      for (const d of shapes) {
        const id = randomUUID();
        expect(enc.encode(d, id).equals(fresh(d, id))).toBe(true);
      }
    }
  });

  test('a full cache is cleared and keeps encoding correctly', () => {
    const enc = createResponseEncoder({}, 3);
    for (let i = 0; i < 20; i++) {
      const d = { ...base, rule: `r${i % 7}`, policyVersion: `v${i % 5}` };
      const id = randomUUID();
      expect(enc.encode(d, id).equals(fresh(d, id))).toBe(true);
    }
  });

  test('an id that is not a UUID is encoded fresh', () => {
    const enc = createResponseEncoder();
    expect(enc.encode(base, 'not-a-uuid').equals(fresh(base, 'not-a-uuid'))).toBe(true);
  });
});

/**
 * The cache is keyed by values a policy author and the traffic choose (rule, message, policy version, agent...): it
 * must stay at its bound however many distinct shapes pass, or a long-lived replica grows without limit.
 */
describe('response cache bound', () => {
  const distinct: Array<[string, (i: number) => Decision]> = [
    ['a new rule name each time', (i) => ({ ...base, rule: `rule-${i}` })],
    [
      'a new message under one rule',
      (i) => ({
        ...base,
        outcome: 'deny',
        verdict: 'deny',
        reason: DECISION_REASONS.ruleDeny,
        status: 403,
        message: `Denied ${i}`,
      }),
    ],
    ['a new policy version under one rule', (i) => ({ ...base, policyVersion: `v${i}` })],
    ['a new agent under one rule', (i) => ({ ...base, agent: `agent-${i}` })],
    [
      'a shape that cannot be templated',
      (i) => ({
        ...base,
        outcome: 'deny',
        verdict: 'deny',
        reason: DECISION_REASONS.ruleError,
        status: 403,
        message: `@@PHIGUARD-DECISION-ID-PLACEHOLDER@@ ${i}`,
      }),
    ],
  ];
  const bounds = [1, 3, 64];
  const cases = bounds.flatMap((bound) => distinct.map(([what, make]) => [bound, what, make] as const));

  test.each(cases)(
    'bound %d, %s: size never exceeds the bound, reaches it, and every answer stays exact',
    (bound, _what, make) => {
      const enc = createResponseEncoder({}, bound);
      expect(enc.size()).toBe(0);
      let largest = 0;
      for (let i = 0; i < bound * 10 + 20; i++) {
        const d = make(i);
        const id = randomUUID();
        expect(enc.encode(d, id).equals(fresh(d, id))).toBe(true);
        expect(enc.size()).toBeLessThanOrEqual(bound);
        largest = Math.max(largest, enc.size());
      }
      expect(largest).toBe(bound);
    },
  );

  test('a shape seen again is a hit: size does not grow', () => {
    const enc = createResponseEncoder({}, 64);
    for (let round = 0; round < 50; round++) for (const d of shapes) enc.encode(d, randomUUID());
    expect(enc.size()).toBe(shapes.length);
  });

  const uncached: Array<[string, Decision, string]> = [
    ['an id that is not a UUID', base, 'not-a-uuid'],
    [
      'injected credentials (they differ per endpoint and rotate)',
      { ...base, inject: { set: [{ key: 'authorization', value: 'Bearer rotating-secret' }], remove: [] } },
      randomUUID(),
    ],
  ];
  test.each(uncached)('%s: encoded fresh and never cached', (_what, d, id) => {
    const enc = createResponseEncoder({}, 64);
    for (let i = 0; i < 10; i++) expect(enc.encode(d, id).equals(fresh(d, id))).toBe(true);
    expect(enc.size()).toBe(0);
  });
});
