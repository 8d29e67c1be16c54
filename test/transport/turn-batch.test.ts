import { describe, expect, test } from '@jest/globals';
import { createTurnBatch } from '../../authz/transport/index.js';

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('turn batch', () => {
  test('items queued in one turn are handed over together, in order, at the end of the turn', async () => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => runs.push([...items]));
    for (let i = 0; i < 5; i++) b.add(i);
    expect(runs).toEqual([]);
    expect(b.pending()).toBe(5);
    await turn();
    expect(runs).toEqual([[0, 1, 2, 3, 4]]);
    expect(b.pending()).toBe(0);
    b.add(5);
    await turn();
    expect(runs).toEqual([[0, 1, 2, 3, 4], [5]]);
  });

  test('a turn with more than max items is handled in batches of max, one per turn', async () => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => runs.push([...items]), 3);
    for (let i = 0; i < 8; i++) b.add(i);
    await turn();
    expect(runs).toEqual([[0, 1, 2]]);
    await turn();
    await turn();
    expect(runs).toEqual([
      [0, 1, 2],
      [3, 4, 5],
      [6, 7],
    ]);
  });

  test('an item added while a batch runs goes to the next batch', async () => {
    const runs: string[][] = [];
    const b = createTurnBatch<string>((items) => {
      runs.push([...items]);
      if (items.includes('a')) b.add('late');
    });
    b.add('a');
    await turn();
    await turn();
    expect(runs).toEqual([['a'], ['late']]);
  });

  test.each([
    ['no max', undefined, 7, [[0, 1, 2, 3, 4, 5, 6]]],
    ['max 1', 1, 3, [[0], [1], [2]]],
    ['max 2, an odd count', 2, 5, [[0, 1], [2, 3], [4]]],
    ['max equal to the count', 4, 4, [[0, 1, 2, 3]]],
  ])('max per batch (%s): every item once, in order, no batch larger than max', async (_name, max, count, expected) => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => runs.push([...items]), max);
    for (let i = 0; i < count; i++) b.add(i);
    for (let i = 0; i < count + 1; i++) await turn();
    expect(runs).toEqual(expected);
  });

  test.each([
    ['no max', undefined, [[0, 1, 2, 3, 4]]],
    ['max 2', 2, [[0, 1], [2, 3], [4]]],
  ])('flush() (%s): everything queued, at once, in order; nothing left for the turn', async (_name, max, expected) => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => runs.push([...items]), max);
    expect(b.add(0)).toBe(1);
    for (let i = 1; i < 5; i++) b.add(i);
    b.flush();
    expect(runs).toEqual(expected);
    expect(b.pending()).toBe(0);
    await turn();
    expect(runs).toEqual(expected);
  });

  test('size-triggered early flush: batches of the chunk, the rest at the end of the turn, order kept', async () => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => runs.push([...items]));
    for (let i = 0; i < 7; i++) if (b.add(i) >= 3) b.flush();
    expect(runs).toEqual([
      [0, 1, 2],
      [3, 4, 5],
    ]);
    await turn();
    expect(runs).toEqual([[0, 1, 2], [3, 4, 5], [6]]);
  });

  test('flush() of nothing does not call back; an item added while it runs goes at the end of the turn', async () => {
    const runs: string[][] = [];
    const b = createTurnBatch<string>((items) => {
      runs.push([...items]);
      if (items.includes('a')) b.add('late');
    });
    b.flush();
    expect(runs).toEqual([]);
    b.add('a');
    b.flush();
    expect(runs).toEqual([['a']]);
    expect(b.pending()).toBe(1);
    await turn();
    expect(runs).toEqual([['a'], ['late']]);
  });

  test('a batch that throws in flush() leaves the rest for the end of the turn', async () => {
    const runs: number[][] = [];
    const b = createTurnBatch<number>((items) => {
      runs.push([...items]);
      if (items[0] === 0) throw new Error('run failed');
    }, 2);
    for (let i = 0; i < 4; i++) b.add(i);
    expect(() => b.flush()).toThrow('run failed');
    expect(b.pending()).toBe(2);
    await turn();
    expect(runs).toEqual([
      [0, 1],
      [2, 3],
    ]);
  });

  test('max must be a positive integer', () => {
    expect(() => createTurnBatch(() => undefined, 0)).toThrow(RangeError);
    expect(() => createTurnBatch(() => undefined, 1.5)).toThrow(RangeError);
  });
});
