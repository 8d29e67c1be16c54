/** Cached, id-patched CheckResponses are byte-for-byte what protobufjs encodes for the same decision and id. */
import { randomUUID } from 'node:crypto';
import { describe, expect, test } from '@jest/globals';
import { toCheckResponse, DECISION_REASONS, type Decision } from '../../authz/index.js';
import { createResponseEncoder } from '../../authz/transport/index.js';
import { authzRoot } from '../../authz/transport/grpc-codec.js';

const Res = authzRoot().lookupType('envoy.service.auth.v3.CheckResponse');
const fresh = (d: Decision, id: string): Buffer => Buffer.from(Res.encode(Res.fromObject(toCheckResponse(d, id))).finish());

const base: Decision = { outcome: 'allow', verdict: 'allow', mode: 'enforce', agent: 'scribe', rule: 'r1', reason: DECISION_REASONS.ruleAllow, status: 200, message: '', policyVersion: 'v1', trace: [] };
const shapes: Decision[] = [
  base,
  { ...base, rule: 'r2' },
  { ...base, policyVersion: 'v2' },
  { ...base, agent: 'cds' },
  { ...base, outcome: 'deny', verdict: 'deny', reason: DECISION_REASONS.ruleDeny, status: 403, message: 'Denied by rule "r1"' },
  { ...base, outcome: 'deny', verdict: 'deny', reason: DECISION_REASONS.ruleDeny, status: 451, message: 'Denied by rule "r1"' },
  { ...base, outcome: 'deny', verdict: 'deny', reason: DECISION_REASONS.ruleDeny, status: 403, message: 'another message' },
  { ...base, verdict: 'deny', mode: 'audit', reason: DECISION_REASONS.ruleDeny },
  { ...base, outcome: 'deny', verdict: 'deny', reason: DECISION_REASONS.ruleError, status: 403, message: 'contains @@PHIGUARD-DECISION-ID-PLACEHOLDER@@' },
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
