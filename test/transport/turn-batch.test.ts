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
    expect(runs).toEqual([[0, 1, 2], [3, 4, 5], [6, 7]]);
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

  test('max must be a positive integer', () => {
    expect(() => createTurnBatch(() => undefined, 0)).toThrow(RangeError);
    expect(() => createTurnBatch(() => undefined, 1.5)).toThrow(RangeError);
  });
});
