/** Containment states shared through a directory: another replica's entry, an expiry and a lift are all seen. */
import { rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { createContainmentStore, type ContainmentState, type ContainmentStore } from '../../authz/containment/index.js';
import { tempDir } from '../helpers/temp.js';

const until = async (cond: () => boolean, ms = 4000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

const state = (agent: string, untilMs: number): ContainmentState => ({
  agent,
  action: 'stop',
  trigger: 'protected-endpoint',
  since: new Date().toISOString(),
  until: new Date(untilMs).toISOString(),
  decisionId: '00000000-0000-4000-8000-000000000001',
  replica: 'other',
  contextPatients: [],
  salt: '',
});

describe('containment store', () => {
  const cleanup: Array<() => void> = [];
  afterEach(() => {
    for (const c of cleanup.splice(0)) c();
  });
  function open(): { dir: string; store: ContainmentStore; changes: string[] } {
    const t = tempDir({});
    const changes: string[] = [];
    const store = createContainmentStore(t.dir, 100, (agent, s) => changes.push(`${agent}:${s ? s.action : 'ended'}`));
    cleanup.push(() => store.close(), t.remove);
    return { dir: t.dir, store, changes };
  }

  test("another replica's entry is in force here within the poll, and its lift ends it", async () => {
    const { dir, store, changes } = open();
    const file = path.join(dir, 'cds.containment.json');
    writeFileSync(file, JSON.stringify(state('cds', Date.now() + 60_000)));
    expect(await until(() => store.get('cds', Date.now()) !== undefined)).toBe(true);
    rmSync(file);
    expect(await until(() => store.get('cds', Date.now()) === undefined)).toBe(true);
    expect(changes).toEqual(['cds:stop', 'cds:ended']);
  });

  test('an entry made here is in force at once; its expiry is reported although no file changed', async () => {
    const { store, changes } = open();
    store.enter(state('scribe', Date.now() + 300));
    expect(store.get('scribe', Date.now())?.action).toBe('stop');
    expect(await until(() => changes.includes('scribe:ended'))).toBe(true);
    expect(store.list(Date.now())).toEqual([]);
  });

  test('a state already expired on disk is never in force', () => {
    const t = tempDir({ 'old.containment.json': JSON.stringify(state('old', Date.now() - 1000)) });
    const store = createContainmentStore(t.dir, 100);
    cleanup.push(() => store.close(), t.remove);
    expect(store.get('old', Date.now())).toBeUndefined();
  });
});
