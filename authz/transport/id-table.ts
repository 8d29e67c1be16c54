/**
 * A table from integer id to object for long-lived, high-churn use: one insert and one delete per Check, forever.
 *
 * A `Map` used that way keeps the garbage collector's young generation from ever emptying. V8 rehashes a Map's table
 * every few dozen changes, and the table it leaves behind keeps its entries and a pointer to its successor (for
 * iterators still walking it). Once one obsolete table has reached the old generation (any mark-compact that runs
 * while it is current puts it there), every later table is reachable from it in the eyes of the scavenger, which
 * treats old-to-young pointers as roots: every value stored since, and all it references, survives each scavenge and
 * is promoted, and only the next mark-compact frees it. Then it starts again. test/transport/id-table.test.ts
 * reproduces this in
 * a dozen lines of JavaScript (one forced mark-compact, then ~4.5 MB surviving each scavenge against ~0.2 MB) and
 * fails if a V8 release stops doing it, so this workaround can then go.
 *
 * This table keeps its entries as integer-keyed properties of a plain object, which V8 stores as elements (a
 * dictionary once sparse); an outgrown elements store is left with no pointer to its successor.
 * Used for the HTTP/2 streams of a session (http2-stream-table.ts) and the decision thread's pending checks
 * (service/start-threaded.ts).
 */
/** A Map from integer id to object with Map's semantics, without the chain. */
export class IdTable<V extends object> {
  #entries = noPrototype<V>();
  #size = 0;

  get size(): number {
    return this.#size;
  }

  get(id: number): V | undefined {
    return this.#entries[id];
  }

  has(id: number): boolean {
    return this.#entries[id] !== undefined;
  }

  set(id: number, value: V): this {
    if (this.#entries[id] === undefined) this.#size++;
    this.#entries[id] = value;
    return this;
  }

  delete(id: number): boolean {
    if (this.#entries[id] === undefined) return false;
    delete this.#entries[id];
    this.#size--;
    return true;
  }

  clear(): void {
    this.#entries = noPrototype<V>();
    this.#size = 0;
  }

  /**
   * Visits the entries in ascending id order (insertion order, as with a Map, when ids only grow: HTTP/2 stream ids
   * and the decision thread's sequence numbers). Entries deleted during the walk are skipped, as Map.forEach does:
   * Node destroys each stream of a closing session from inside forEach, and each destroy deletes its entry.
   */
  forEach(visit: (value: V, id: number, table: this) => void): void {
    for (const id of this.keys()) {
      const value = this.#entries[id];
      if (value !== undefined) visit(value, id, this);
    }
  }

  keys(): number[] {
    return Object.keys(this.#entries).map(Number);
  }

  values(): V[] {
    return this.entries().map(([, value]) => value);
  }

  entries(): Array<[number, V]> {
    const out: Array<[number, V]> = [];
    this.forEach((value, id) => out.push([id, value]));
    return out;
  }

  [Symbol.iterator](): IterableIterator<[number, V]> {
    return this.entries()[Symbol.iterator]();
  }
}

/** An empty record with no prototype, so no inherited (or polluted) integer key can read as an entry. */
function noPrototype<V>(): Record<number, V> {
  const entries: Record<number, V> = {};
  Object.setPrototypeOf(entries, null);
  return entries;
}
