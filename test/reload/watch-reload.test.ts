/** The one watch-and-reload mechanism: a change is picked up, a bad load keeps the last good value, close stops it. */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { err, ok, PhiguardError } from '../../authz/model/index.js';
import { watchReload, type Reloading } from '../../authz/reload/index.js';
import { tempDir } from '../helpers/temp.js';

const until = async (cond: () => boolean, ms = 3000): Promise<boolean> => {
  const deadline = Date.now() + ms;
  while (!cond() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
  return cond();
};

describe('watchReload', () => {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  function source(watch: boolean): { file: string; store: Reloading<string>; events: string[] } {
    const t = tempDir({ 'value.txt': 'one' });
    const file = path.join(t.dir, 'value.txt');
    const events: string[] = [];
    const r = watchReload<string>({
      paths: () => [file],
      load: () => {
        const text = readFileSync(file, 'utf8');
        return text.startsWith('bad') ? err(new PhiguardError('config', 'bad value')) : ok(text);
      },
      same: (a, b) => a === b,
      onReloaded: (v) => events.push(`reloaded:${v}`),
      onReloadFailed: (e, kept) => events.push(`failed:${e.message}:kept ${kept}`),
      pollMs: 100,
      watch,
    });
    if (!r.ok) throw r.error;
    open.push(r.value, { close: t.remove });
    return { file, store: r.value, events };
  }

  test.each([
    ['by file events', true],
    ['by polling alone', false],
  ])(
    'a changed file is the new value %s; a bad one keeps the last good value and marks it stale',
    async (_n, watch) => {
      const { file, store, events } = source(watch);
      expect(store.current()).toBe('one');
      writeFileSync(file, 'two');
      expect(await until(() => store.current() === 'two')).toBe(true);
      writeFileSync(file, 'bad!');
      expect(await until(() => store.stale())).toBe(true);
      expect(store.current()).toBe('two');
      expect(events).toEqual(['reloaded:two', 'failed:bad value:kept two']);
      writeFileSync(file, 'three');
      expect(await until(() => !store.stale() && store.current() === 'three')).toBe(true);
    },
  );

  test('a first load that fails is returned as the error (nothing starts on a bad source)', () => {
    const t = tempDir({});
    const r = watchReload<string>({ paths: () => [t.dir], load: () => err(new PhiguardError('config', 'no')) });
    t.remove();
    expect(r.ok ? 'started' : r.error.message).toBe('no');
  });

  test('after close nothing is reloaded', async () => {
    const { file, store } = source(true);
    store.close();
    writeFileSync(file, 'two');
    await new Promise((r) => setTimeout(r, 400));
    expect(store.current()).toBe('one');
  });
});
