/**
 * A half-written policy file is never in force, through the real service in both topologies: a valid policy written
 * in two chunks 600 ms apart (its first half has the allow rules and none of the deny rules) is loaded only when
 * complete, so a request its deny rule forbids is never allowed; a policy renamed into place applies at once.
 */
import { appendFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { ServerConfigSchema } from '../../authz/index.js';
import { createCheckClient, type CheckClient } from '../../generator/call/index.js';
import { TOPOLOGIES, type ServiceUnderTest } from '../helpers/server.js';
import { policyYaml } from '../helpers/temp.js';

const principal = 'spiffe://cluster.local/ns/lab/sa/lab';
const selector = `principal: ${principal}`;
const check = (id: string) => ({
  attributes: {
    source: { principal },
    request: { http: { method: 'GET', path: `/fhir/Patient/${id}`, headers: {} } },
  },
});
const codeOf = async (c: CheckClient, id: string): Promise<number> =>
  ((await c.check(check(id)))['status'] as { code: number }).code;

/** In force before: nothing is allowed. */
const BEFORE = policyYaml('lab', '    - name: nothing\n      allow: "false"', selector);
/** The first chunk of the new policy: valid on its own, allow rules only. */
const FIRST_HALF = policyYaml(
  'lab',
  '    - name: read-patients\n      allow: fhir.resourceType == "Patient"',
  selector,
);
/** The second chunk: the deny rule. */
const SECOND_HALF = '    - name: never-p-666\n      deny: \'"p-666" in fhir.patients\'\n';

describe.each(TOPOLOGIES)('policy directory settle (%s)', (_topology, start) => {
  let s: ServiceUnderTest | undefined;
  let client: CheckClient | undefined;
  afterEach(async () => {
    client?.close();
    await s?.stop();
  });

  test('a policy written in two chunks 600 ms apart never goes live with its first half', async () => {
    s = await start({}, { 'lab.yaml': BEFORE });
    const c = createCheckClient(s.addr);
    client = c;
    expect(await codeOf(c, 'p-1')).toBe(7);
    const file = path.join(s.policiesDir, 'lab.yaml');
    let forbiddenAllowed = 0;
    let complete = false;
    const hammer = (async () => {
      const deadline = Date.now() + 8000;
      while (!complete && Date.now() < deadline) {
        // p-1 first: once it is allowed, the old policy is gone, and p-666 denied then means the complete policy.
        const readable = (await codeOf(c, 'p-1')) === 0;
        const forbidden = await codeOf(c, 'p-666');
        if (forbidden === 0) forbiddenAllowed++;
        complete = readable && forbidden === 7;
      }
    })();
    writeFileSync(file, FIRST_HALF);
    await new Promise((r) => setTimeout(r, 600));
    appendFileSync(file, SECOND_HALF);
    await hammer;
    expect(complete).toBe(true); // the complete policy is in force
    expect(forbiddenAllowed).toBe(0); // and its first half never was
  });

  test('a policy renamed into place applies at once, well within the settle interval', async () => {
    s = await start({ reloadSettleMs: 5000 }, { 'lab.yaml': BEFORE });
    const c = createCheckClient(s.addr);
    client = c;
    const tmp = path.join(s.policiesDir, '.lab.yaml.tmp');
    writeFileSync(tmp, FIRST_HALF + SECOND_HALF);
    const t0 = Date.now();
    renameSync(tmp, path.join(s.policiesDir, 'lab.yaml'));
    while ((await codeOf(c, 'p-1')) !== 0 && Date.now() - t0 < 5000) await new Promise((r) => setTimeout(r, 20));
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(await codeOf(c, 'p-666')).toBe(7);
  });
});

describe('--reload-settle-ms (PHIGUARD_RELOAD_SETTLE_MS)', () => {
  const parse = (v: unknown) => ServerConfigSchema.safeParse({ policies: 'p', reloadSettleMs: v });

  test('defaults to 1000 ms and reads a number from a flag or the environment', () => {
    expect(ServerConfigSchema.parse({ policies: 'p' }).reloadSettleMs).toBe(1000);
    expect(parse('2500').data?.reloadSettleMs).toBe(2500);
  });

  test.each([
    ['50', 'at least 100 ms'],
    ['600000', 'at most 60000 ms'],
    ['1.5', 'a whole number of milliseconds'],
    ['soon', 'expected number'],
  ])('%s is refused with a clear message', (v, message) => {
    const r = parse(v);
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(['reloadSettleMs']);
    expect(r.error?.issues[0]?.message).toContain(message);
  });
});
