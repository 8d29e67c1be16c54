/**
 * The churn pattern of id-table.ts, run by test/transport/id-table.test.ts in a child process with `--expose-gc
 * --trace-gc-nvp`: a long-lived table with ~50 live entries, ids only growing, ~200 inserts and deletes per
 * event-loop turn, each value holding ~4 KB of young objects. One forced mark-compact part-way in plays the part of
 * the mark-compact that, in a server, promotes the table's current backing store. Usage: map-chain.ts map|id-table
 */
import { IdTable } from '../../authz/transport/id-table.js';

const kind = process.argv[2];
if (kind !== 'map' && kind !== 'id-table') throw new Error('usage: map-chain.ts map|id-table');
const exposed: unknown = Reflect.get(globalThis, 'gc');
if (typeof exposed !== 'function') throw new Error('run with --expose-gc');
const gc = (): unknown => Reflect.apply(exposed, globalThis, []);
const table = kind === 'map' ? new Map<number, object>() : new IdTable<object>();
const live: number[] = [];
let next = 0;
let turn = 0;
const TURNS = 1500;
function churn(): void {
  for (let i = 0; i < 200; i++) {
    const id = next++;
    table.set(id, { id, payload: new Array<number>(500).fill(id) });
    live.push(id);
    if (live.length > 50) table.delete(live.shift() ?? -1);
  }
  turn++;
  if (turn === 300) {
    process.stdout.write('FORCED-GC\n');
    gc();
  }
  if (turn < TURNS) setImmediate(churn);
}
churn();
