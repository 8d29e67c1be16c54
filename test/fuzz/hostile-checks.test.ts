/**
 * The seeded fuzz test (a small count here; `npm run fuzz` sends 100,000): hostile CheckRequests against the example
 * policies and BAA registry, through the real gRPC service in both topologies. None is allowed, and every answer has
 * exactly one audit record.
 */
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { startWithExampleRegistry, TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';
import { hostileChecks } from './hostile-checks.js';
import { sendAll, violations } from './run-fuzz.js';

const SEED = Number(process.env['PHIGUARD_FUZZ_SEED'] ?? 20261205);
const COUNT = 800;

describe.each(TOPOLOGIES)('hostile checks (%s)', (_name, start) => {
  let s: ServiceUnderTest;
  beforeAll(async () => {
    s = await startWithExampleRegistry(start);
  });
  afterAll(async () => {
    await s.stop();
  });

  test(`${COUNT} generated hostile requests (seed ${SEED}): none allowed, one record each`, async () => {
    const checks = hostileChecks(SEED, COUNT);
    const answers = await sendAll(s.addr, checks);
    await s.service.close();
    expect(violations(checks, answers, s.auditRecords())).toEqual([]);
  });

  test('the generator is deterministic and varied', () => {
    const a = hostileChecks(SEED, 200).map((c) => c.shape);
    expect(hostileChecks(SEED, 200).map((c) => c.shape)).toEqual(a);
    expect(new Set(a).size).toBeGreaterThan(100);
  });
});
