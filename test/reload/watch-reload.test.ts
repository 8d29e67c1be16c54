/**
 * The one watch-and-reload mechanism: a change is picked up, a bad load keeps the last good value, close stops it; a
 * source being written is loaded only once it has settled, and atomic changes (rename, ConfigMap `..data` swap,
 * removal) apply at once.
 */
import {
  appendFileSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, test } from '@jest/globals';
import { err, ok, PhiguardError } from '../../authz/model/index.js';
import { DEFAULT_SETTLE_MS, watchReload, type Reloading } from '../../authz/reload/index.js';
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
      settleMs: 300,
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

/** A reloader over one directory of text files, recording every value it loads. */
function dirSource(
  dir: string,
  options: { settleMs?: number; watch?: boolean; pollMs?: number } = {},
): { store: Reloading<string>; loaded: Array<{ value: string; atMs: number }>; close(): void } {
  const loaded: Array<{ value: string; atMs: number }> = [];
  const read = (): string =>
    readdirSync(dir)
      .filter((f) => f.endsWith('.txt'))
      .sort()
      .map((f) => readFileSync(path.join(dir, f), 'utf8'))
      .join('|');
  const r = watchReload<string>({
    paths: () => [dir],
    entryFilter: (f) => f.endsWith('.txt'),
    load: () => ok(read()),
    same: (a, b) => a === b,
    onReloaded: (v) => loaded.push({ value: v, atMs: Date.now() }),
    pollMs: options.pollMs ?? 100,
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
    ...(options.watch !== undefined ? { watch: options.watch } : {}),
  });
  if (!r.ok) throw r.error;
  return { store: r.value, loaded, close: r.value.close };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('watchReload settles a source that is being written', () => {
  const open: Array<{ close(): void }> = [];
  afterEach(() => {
    for (const o of open.splice(0)) o.close();
  });

  test('DEFAULT_SETTLE_MS outlasts the 600 ms pause between the two chunks of a policy write', () => {
    expect(DEFAULT_SETTLE_MS).toBeGreaterThan(600);
  });

  test.each([
    ['by file events', true],
    ['by polling alone', false],
  ])('a file written in two chunks 600 ms apart is never loaded half-written (%s)', async (_n, watch) => {
    const t = tempDir({ 'a.txt': 'old' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { watch });
    open.push(s);
    const file = path.join(t.dir, 'a.txt');
    writeFileSync(file, 'first half;');
    await sleep(600);
    appendFileSync(file, 'second half');
    expect(await until(() => s.store.current() === 'first half;second half', 4000)).toBe(true);
    expect(s.loaded.map((l) => l.value)).toEqual(['first half;second half']);
  });

  test('a new file written in chunks with pauses shorter than the settle interval is loaded only once complete', async () => {
    const t = tempDir({ 'a.txt': 'a' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { settleMs: 800 });
    open.push(s);
    const file = path.join(t.dir, 'b.txt');
    const start = Date.now();
    for (const chunk of ['1', '2', '3', '4']) {
      appendFileSync(file, chunk);
      await sleep(400);
    }
    expect(await until(() => s.store.current() === 'a|1234', 4000)).toBe(true);
    expect(s.loaded.map((l) => l.value)).toEqual(['a|1234']);
    // Not before the last chunk had been left alone for the settle interval.
    expect(s.loaded[0]?.atMs ?? 0).toBeGreaterThanOrEqual(start + 1200 + 800);
  });

  test.each([
    ['by file events', true],
    ['by polling alone', false],
  ])('a change in place waits for the settle interval (%s)', async (_n, watch) => {
    const t = tempDir({ 'a.txt': 'one' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { settleMs: 1500, watch });
    open.push(s);
    const start = Date.now();
    writeFileSync(path.join(t.dir, 'a.txt'), 'two');
    expect(await until(() => s.store.current() === 'two', 5000)).toBe(true);
    expect((s.loaded[0]?.atMs ?? 0) - start).toBeGreaterThanOrEqual(1500);
  });

  test('a file renamed into place applies at once, well within the settle interval', async () => {
    const t = tempDir({ 'a.txt': 'one' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { settleMs: 3000 });
    open.push(s);
    writeFileSync(path.join(t.dir, 'a.tmp'), 'two');
    const start = Date.now();
    renameSync(path.join(t.dir, 'a.tmp'), path.join(t.dir, 'a.txt'));
    expect(await until(() => s.store.current() === 'two', 5000)).toBe(true);
    expect((s.loaded[0]?.atMs ?? 0) - start).toBeLessThan(1000);
  });

  /** A directory laid out as kubelet's AtomicWriter publishes a ConfigMap volume: each key a link through `..data`. */
  function configMapVolume(): { dir: string; publish: (version: string, text: string) => void; remove: () => void } {
    const t = tempDir();
    const publish = (version: string, text: string): void => {
      const ts = `..2026_12_05_${version}`;
      mkdirSync(path.join(t.dir, ts));
      writeFileSync(path.join(t.dir, ts, 'a.txt'), text);
      symlinkSync(ts, path.join(t.dir, '..data_tmp'));
      renameSync(path.join(t.dir, '..data_tmp'), path.join(t.dir, '..data'));
    };
    publish('v1', 'one');
    symlinkSync(path.join('..data', 'a.txt'), path.join(t.dir, 'a.txt'));
    return { dir: t.dir, publish, remove: t.remove };
  }

  test.each([
    ['by file events', true],
    ['by polling alone', false],
  ])('a ConfigMap update (the ..data link swapped) applies at once (%s)', async (_n, watch) => {
    const v = configMapVolume();
    open.push({ close: v.remove });
    const s = dirSource(v.dir, { settleMs: 3000, watch });
    open.push(s);
    expect(s.store.current()).toBe('one');
    const start = Date.now();
    v.publish('v2', 'two');
    expect(await until(() => s.store.current() === 'two', 5000)).toBe(true);
    expect((s.loaded[0]?.atMs ?? 0) - start).toBeLessThan(1000);
  });

  test('a single file in a ConfigMap volume (a file source) follows the ..data swap at once', async () => {
    const v = configMapVolume();
    open.push({ close: v.remove });
    const file = path.join(v.dir, 'a.txt');
    const r = watchReload<string>({
      paths: () => [file],
      load: () => ok(readFileSync(file, 'utf8')),
      settleMs: 3000,
      pollMs: 100,
    });
    if (!r.ok) throw r.error;
    open.push(r.value);
    const start = Date.now();
    v.publish('v2', 'two');
    expect(await until(() => r.value.current() === 'two', 5000)).toBe(true);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  test('a removed file applies at once', async () => {
    const t = tempDir({ 'a.txt': 'a', 'b.txt': 'b' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { settleMs: 3000 });
    open.push(s);
    const start = Date.now();
    rmSync(path.join(t.dir, 'b.txt'));
    expect(await until(() => s.store.current() === 'a', 5000)).toBe(true);
    expect(Date.now() - start).toBeLessThan(1000);
  });

  test('reload() loads at once, settled or not', () => {
    const t = tempDir({ 'a.txt': 'one' });
    open.push({ close: t.remove });
    const s = dirSource(t.dir, { settleMs: 3000 });
    open.push(s);
    writeFileSync(path.join(t.dir, 'a.txt'), 'two');
    expect(s.store.reload()).toBe(true);
    expect(s.store.current()).toBe('two');
  });
});
