/**
 * Containment an operator can account for, through the real service and the CLI: a lift needs a reason and names who
 * lifted (in the `containment-ended` record of every replica), `phiguard_contained` falls to 0 on /metrics after a lift
 * (also one made right after the entry), `status` on a directory it cannot read is an error and creates nothing, and
 * the state file of an action without a patient context holds none.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { userInfo } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createCheckClient } from '../../generator/call/index.js';
import { operatorIdentity, SERVICE_ACCOUNT_TOKEN } from '../../generator/commands/status.js';
import { TOPOLOGIES } from '../helpers/server.js';
import { policyYaml, tempDir } from '../helpers/temp.js';
import { cli, eventually } from '../helpers/cli.js';

/** Within the reload poll, with room for a loaded CI machine. */
const soon = (fn: () => Promise<boolean>): Promise<void> => eventually(fn, 15_000);

const P = 'spiffe://cluster.local/ns/lab/sa/lab';
const read = (p: string) => ({
  attributes: {
    source: { principal: P },
    request: { http: { method: 'GET', path: p, host: 'fhir.hospital.internal', headers: {} } },
  },
});
const rules = `    - name: reads
      allow: fhir.interaction in ["read", "search-type"]`;
const gaugeOf = (metrics: string, action: string): string | undefined =>
  new RegExp(`^phiguard_contained\\{agent="lab",action="${action}"\\} (\\d+)$`, 'm').exec(metrics)?.[1];

describe('status and lift refuse what they cannot read', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const notADir = t.write('plain-file', 'x');
  const withBadState = path.join(t.dir, 'bad');
  mkdirSync(path.join(withBadState, 'lab.containment.json'), { recursive: true }); // EISDIR when read

  test.each([
    ['a missing directory', path.join(t.dir, 'missing'), /containment directory .*missing does not exist/],
    ['a file, not a directory', notADir, /plain-file is not a directory/],
    [
      'a state file that cannot be read',
      withBadState,
      /cannot tell which agents are contained: .*lab\.containment\.json/,
    ],
  ])('status on %s exits 2 and creates nothing', async (_name, dir, message) => {
    const r = await cli(['status', '--containment-dir', dir]);
    expect([r.code, r.out]).toEqual([2, '']);
    expect(r.err).toMatch(message);
    if (dir.endsWith('missing')) expect(existsSync(dir)).toBe(false);
  });

  test('contain lift on a missing directory exits 2 and creates nothing', async () => {
    const dir = path.join(t.dir, 'missing-too');
    const r = await cli(['contain', 'lift', 'lab', '--containment-dir', dir, '--reason', 'reviewed']);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/does not exist/);
    expect(existsSync(dir)).toBe(false);
  });

  test.each([
    ['no --reason', [], /--reason/],
    ['an empty --reason', ['--reason', '  '], /--reason must say why/],
    ['an empty --by', ['--reason', 'reviewed', '--by', ' '], /--by must name who/],
  ])('contain lift with %s exits 2', async (_name, extra, message) => {
    mkdirSync(path.join(t.dir, 'empty'), { recursive: true });
    const r = await cli(['contain', 'lift', 'lab', '--containment-dir', path.join(t.dir, 'empty'), ...extra]);
    expect(r.code).toBe(2);
    expect(r.err).toMatch(message);
  });
});

describe.each(TOPOLOGIES)('lift, record and gauge through the service (%s)', (_topology, start) => {
  test('a lift right after the entry: the gauge falls to 0 and containment-ended names who and why', async () => {
    const t = tempDir();
    const dir = path.join(t.dir, 'containment');
    const s = await start(
      { containmentDir: dir, replica: 'r1' },
      { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) },
    );
    const c = createCheckClient(s.addr);
    try {
      expect((await c.check(read('/fhir/Patient/p-1')))['status']).toEqual({ code: 0 });
      expect((await c.check(read('/fhir/Patient/p-1/$everything')))['status']).toMatchObject({ code: 7 });
      // Lifted at once, before the service's watch has looked at its own entry.
      const lift = await cli([
        'contain', 'lift', 'lab', '--containment-dir', dir, '--by', 'dr-oncall', '--reason', 'false positive: INC-42',
      ]); // prettier-ignore
      expect([lift.code, lift.out]).toEqual([
        0,
        'lifted containment of lab (soft-quarantine), by dr-oncall: false positive: INC-42\n',
      ]);
      await soon(async () => gaugeOf(await s.metrics(), 'soft-quarantine') === '0');
      const ended = () => s.auditRecords().filter((r) => r['type'] === 'containment-ended');
      await soon(async () => Promise.resolve(ended().length === 1));
      expect(ended()[0]).toMatchObject({
        agent: 'lab',
        action: 'soft-quarantine',
        ended: 'lifted',
        by: 'dr-oncall',
        reason: 'false positive: INC-42',
        replica: 'r1',
      });
      // The agent is served again; a second violation contains it again and the gauge rises.
      expect((await c.check(read('/fhir/Patient/p-1')))['status']).toEqual({ code: 0 });
      expect((await c.check(read('/fhir/Patient/p-1/$everything')))['status']).toMatchObject({ code: 7 });
      await soon(async () => gaugeOf(await s.metrics(), 'soft-quarantine') === '1');
      // Without --by, the lift is recorded under the operator's identity.
      const byDefault = await cli(['contain', 'lift', 'lab', '--containment-dir', dir, '--reason', 'reviewed']);
      expect(byDefault.code).toBe(0);
      await soon(async () => Promise.resolve(ended().length === 2));
      expect(ended()[1]).toMatchObject({ ended: 'lifted', by: operatorIdentity(), reason: 'reviewed' });
      await soon(async () => gaugeOf(await s.metrics(), 'soft-quarantine') === '0');
      const r = await cli(['status', '--containment-dir', dir]);
      expect([r.code, r.out]).toEqual([0, 'no agent is contained\n']);
    } finally {
      c.close();
      await s.stop();
      t.remove();
    }
  });
});

describe.each(TOPOLOGIES)('a state file removed by hand (%s)', (_topology, start) => {
  test('right after the entry: the gauge falls to 0 and containment-ended says removed', async () => {
    const t = tempDir();
    const dir = path.join(t.dir, 'containment');
    const s = await start({ containmentDir: dir }, { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) });
    const c = createCheckClient(s.addr);
    try {
      expect((await c.check(read('/fhir/Patient/p-1/$everything')))['status']).toMatchObject({ code: 7 });
      rmSync(path.join(dir, 'lab.containment.json'));
      await soon(async () => gaugeOf(await s.metrics(), 'soft-quarantine') === '0');
      await soon(async () =>
        Promise.resolve(s.auditRecords().some((r) => r['type'] === 'containment-ended' && r['ended'] === 'removed')),
      );
    } finally {
      c.close();
      await s.stop();
      t.remove();
    }
  });
});

describe('state files through the service', () => {
  test('soft-quarantine stores no patient context, and its file and directory are private', async () => {
    const [, start] = TOPOLOGIES[0] ?? [];
    if (start === undefined) throw new Error('no topology');
    const t = tempDir();
    const dir = path.join(t.dir, 'containment');
    const keyFile = t.write('privacy.key', 'k'.repeat(40));
    const s = await start(
      { containmentDir: dir, privacyKeyFile: keyFile },
      { 'lab.yaml': policyYaml('lab', rules, `principal: ${P}`) },
    );
    const c = createCheckClient(s.addr);
    try {
      expect((await c.check(read('/fhir/Patient/p-1')))['status']).toEqual({ code: 0 });
      expect((await c.check(read('/fhir/Patient/p-1/$everything')))['status']).toMatchObject({ code: 7 });
      const file = path.join(dir, 'lab.containment.json');
      const state = JSON.parse(readFileSync(file, 'utf8')) as Record<string, unknown>;
      expect(state).toMatchObject({ action: 'soft-quarantine', contextPatients: [], salt: '' });
      expect([statSync(file).mode & 0o777, statSync(dir).mode & 0o777]).toEqual([0o600, 0o700]);
    } finally {
      c.close();
      await s.stop();
      t.remove();
    }
  });
});

describe('the default operator identity', () => {
  const t = tempDir();
  afterAll(() => t.remove());
  const jwt = (claims: object): string => `e30.${Buffer.from(JSON.stringify(claims)).toString('base64url')}.sig`;

  test.each([
    [
      'a pod with a bound service account token',
      jwt({ sub: 'system:serviceaccount:phiguard:phiguard', 'kubernetes.io': { pod: { name: 'phiguard-7d9' } } }),
      {},
      'system:serviceaccount:phiguard:phiguard (pod phiguard-7d9)',
    ],
    [
      'a legacy token and POD_NAME',
      jwt({ sub: 'system:serviceaccount:ops:lifter' }),
      { POD_NAME: 'p-1' },
      'system:serviceaccount:ops:lifter (pod p-1)',
    ],
    [
      'no token, POD_NAME and POD_NAMESPACE',
      undefined,
      { POD_NAME: 'p-1', POD_NAMESPACE: 'phiguard' },
      'pod phiguard/p-1',
    ],
    ['no token, no pod', undefined, {}, 'os-user'],
  ])('%s', (_name, token, env, expected) => {
    const file = token === undefined ? path.join(t.dir, 'no-token') : t.write(`token-${expected.length}`, token);
    expect(operatorIdentity(file, env, () => 'os-user')).toBe(expected);
  });

  test('outside a pod it is the OS user', () => {
    if (existsSync(SERVICE_ACCOUNT_TOKEN) || process.env['POD_NAME'] !== undefined) {
      process.stderr.write('\n*** SKIPPED ***: running in a pod; the OS-user default is not in play\n\n');
      return;
    }
    expect(operatorIdentity()).toBe(userInfo().username);
  });

  test('a token file that is not a JWT falls back to the OS user', () => {
    expect(operatorIdentity(t.write('garbage', 'not a token'), {}, () => 'os-user')).toBe('os-user');
    writeFileSync(path.join(t.dir, 'empty'), '');
    expect(operatorIdentity(path.join(t.dir, 'empty'), {}, () => 'os-user')).toBe('os-user');
  });
});
