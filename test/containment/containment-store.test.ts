/**
 * Containment states shared through a directory: another replica's entry, an expiry, a lift and a removal are all
 * seen and reported with how they ended; files are 0600 whatever the umask; only `pause` keeps a context, keyed.
 */
import { readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import {
  containmentFile,
  createContainmentStore,
  liftContainment,
  type ContainmentAction,
  type ContainmentEntryState,
  type ContainmentState,
  type ContainmentStore,
} from '../../authz/containment/index.js';
import { privacyKeyOf } from '../../authz/privacy/index.js';
import { tempDir } from '../helpers/temp.js';

const until = async (cond: () => boolean, ms = 4000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

const entry = (agent: string, untilMs: number, action: ContainmentAction = 'stop'): ContainmentEntryState => ({
  agent,
  action,
  trigger: 'protected-endpoint',
  since: new Date().toISOString(),
  until: new Date(untilMs).toISOString(),
  decisionId: '00000000-0000-4000-8000-000000000001',
  replica: 'other',
});
const state = (agent: string, untilMs: number): ContainmentState => ({
  ...entry(agent, untilMs),
  contextPatients: [],
  salt: '',
  keyId: '',
});

const KEY = privacyKeyOf(Buffer.alloc(32, 1));
const OTHER_KEY = privacyKeyOf(Buffer.alloc(32, 2));
const context = (): string[] => ['p-1', 'p-2'];

describe('containment store', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });
  function open(key = KEY): { dir: string; store: ContainmentStore; changes: string[] } {
    const t = tempDir({});
    const changes: string[] = [];
    const store = createContainmentStore(t.dir, {
      pollMs: 100,
      privacyKey: key,
      onChange: (agent, s, ended) => changes.push(`${agent}:${s ? s.action : `ended-${ended?.end.how ?? '?'}`}`),
    });
    cleanup.push(() => store.close(), t.remove);
    return { dir: t.dir, store, changes };
  }

  test("another replica's entry is in force here within the poll, and its removal ends it", async () => {
    const { dir, store, changes } = open();
    const file = path.join(dir, 'cds.containment.json');
    writeFileSync(file, JSON.stringify(state('cds', Date.now() + 60_000)));
    expect(await until(() => store.get('cds', Date.now()) !== undefined)).toBe(true);
    rmSync(file);
    expect(await until(() => store.get('cds', Date.now()) === undefined)).toBe(true);
    expect(changes).toEqual(['cds:stop', 'cds:ended-removed']);
  });

  test('an entry made here is in force at once; its expiry is reported although no file changed', async () => {
    const { store, changes } = open();
    store.enter(entry('scribe', Date.now() + 300), context);
    expect(store.get('scribe', Date.now())?.action).toBe('stop');
    expect(await until(() => changes.includes('scribe:ended-expired'))).toBe(true);
    expect(store.list(Date.now())).toEqual([]);
  });

  test("a lift right after this replica's own entry is seen (the directory is compared with what is held)", async () => {
    const { dir, store, changes } = open();
    store.enter(entry('scribe', Date.now() + 60_000), context);
    rmSync(containmentFile(dir, 'scribe')); // before the watch has looked at the entry
    expect(await until(() => changes.includes('scribe:ended-removed'))).toBe(true);
    expect(store.list(Date.now())).toEqual([]);
  });

  test('a lift is reported with who lifted it and why; the lifted file keeps no context', async () => {
    const { dir, store } = open();
    const ends: unknown[] = [];
    const watcher = createContainmentStore(dir, { pollMs: 100, onChange: (_a, _s, e) => e && ends.push(e.end) });
    cleanup.push(() => watcher.close());
    store.enter(entry('scribe', Date.now() + 60_000, 'pause'), context);
    expect(await until(() => watcher.get('scribe', Date.now()) !== undefined)).toBe(true);
    const at = new Date().toISOString();
    const lifted = liftContainment(dir, 'scribe', { by: 'dr-oncall', reason: 'false positive', at });
    expect(lifted.ok && lifted.value?.lifted).toEqual({ by: 'dr-oncall', reason: 'false positive', at });
    expect(await until(() => ends.length > 0)).toBe(true);
    expect(ends).toEqual([{ how: 'lifted', by: 'dr-oncall', reason: 'false positive', at }]);
    const onDisk = JSON.parse(readFileSync(containmentFile(dir, 'scribe'), 'utf8')) as ContainmentState;
    expect([onDisk.contextPatients, onDisk.salt]).toEqual([[], '']);
    expect(liftContainment(dir, 'scribe', { by: 'x', reason: 'y', at })).toEqual({ ok: true, value: undefined });
  });

  test('a state already expired on disk is never in force', () => {
    const t = tempDir({ 'old.containment.json': JSON.stringify(state('old', Date.now() - 1000)) });
    const store = createContainmentStore(t.dir, { pollMs: 100 });
    cleanup.push(() => store.close(), t.remove);
    expect(store.get('old', Date.now())).toBeUndefined();
  });

  test.each([0o000, 0o022, 0o077])('state files are 0600 and a created directory 0700 under umask %o', (mask) => {
    const old = process.umask(mask);
    try {
      const t = tempDir({});
      cleanup.push(t.remove);
      const dir = path.join(t.dir, 'containment');
      const store = createContainmentStore(dir, { pollMs: 100, privacyKey: KEY });
      cleanup.push(() => store.close());
      store.enter(entry('scribe', Date.now() + 60_000, 'pause'), context);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(containmentFile(dir, 'scribe')).mode & 0o777).toBe(0o600);
    } finally {
      process.umask(old);
    }
  });

  test.each<[ContainmentAction, boolean]>([
    ['pause', true],
    ['soft-quarantine', false],
    ['stop', false],
    ['alert', false],
  ])('%s stores a patient context: %s', (action, stored) => {
    const { dir, store } = open();
    let asked = false;
    store.enter(entry('scribe', Date.now() + 60_000, action), () => ((asked = true), context()));
    const onDisk = JSON.parse(readFileSync(containmentFile(dir, 'scribe'), 'utf8')) as ContainmentState;
    expect([asked, onDisk.contextPatients.length > 0, onDisk.salt !== '', onDisk.keyId !== '']).toEqual([
      stored,
      stored,
      stored,
      stored,
    ]);
  });

  test('a pause context is known only under the key it was keyed with', () => {
    const { dir, store } = open();
    const s = store.enter(entry('scribe', Date.now() + 60_000, 'pause'), context);
    expect(['p-1', 'p-2', 'p-3'].map((p) => store.inContext(s, p))).toEqual([true, true, false]);
    const other = createContainmentStore(dir, { pollMs: 100, privacyKey: OTHER_KEY });
    const none = createContainmentStore(dir, { pollMs: 100 });
    cleanup.push(
      () => other.close(),
      () => none.close(),
    );
    expect([other.inContext(s, 'p-1'), none.inContext(s, 'p-1')]).toEqual([false, false]);
  });

  test('without a privacy key pause is entered as stop, with no context', () => {
    const t = tempDir({});
    const store = createContainmentStore(t.dir, { pollMs: 100 });
    cleanup.push(() => store.close(), t.remove);
    const s = store.enter(entry('scribe', Date.now() + 60_000, 'pause'), context);
    expect([s.action, s.requestedAction, s.contextPatients, s.salt]).toEqual(['stop', 'pause', [], '']);
  });
});
