/**
 * Items queued in one event-loop turn, handed over together at the end of it: the one batching helper of the service.
 * Checks for the decision engine (start-inline.ts), the packed batches between the gRPC thread and the decision thread
 * (decision-thread-protocol.ts), audit lines for the target (audit/sink.ts) and audit rows for the writer thread
 * (audit/threaded-sink.ts) all go through it.
 *
 * Why per turn: Envoy multiplexes the checks of a worker over one HTTP/2 connection, so one socket read carries many
 * of them, and grpc-js hands each to the Check handler in turn. Handled one by one, phiguard's decision code and
 * grpc-js's response code alternate for every check and evict each other's code and data from the CPU caches.
 * Queued and handled at the end of the turn (setImmediate: after the I/O callbacks of this loop iteration), the
 * decisions of a turn run together and then the responses, and each stays warm (docs/performance.md has the
 * measurements). It adds no wait of its own: node's HTTP/2 session writes the responses of a turn together either way.
 * For a thread boundary or a file, one message or one write per turn instead of one per item is the same saving.
 *
 * `max` bounds a batch: a turn with more items is handed over in several batches, one per turn, so a burst does not
 * hold the first responses back behind a long queue. `flush()` hands over what is queued at once, for a caller that
 * sends early when enough has gathered (so the other side starts on it) or that is closing.
 */
export interface TurnBatch<T> {
  /** Queues an item; the batch is handed over at the end of the current turn. Returns how many are queued. */
  add(item: T): number;
  /**
   * Hands over every item queued now (in batches of at most `max`), without waiting for the end of the turn. Items
   * queued while it runs go to the end of the turn.
   */
  flush(): void;
  /** Items queued and not yet handed over. */
  pending(): number;
}

/**
 * A turn batch handing its items to `run`, in the order queued, at most `max` at a time (default: no bound). `run`
 * is never called with an empty batch; the array is its to keep (the batch starts a new one).
 */
export function createTurnBatch<T>(run: (items: T[]) => void, max = Number.POSITIVE_INFINITY): TurnBatch<T> {
  if (max !== Number.POSITIVE_INFINITY && (!Number.isInteger(max) || max < 1)) {
    throw new RangeError(`turn batch max must be a positive integer, got ${max}`);
  }
  let queue: T[] = [];
  let scheduled: NodeJS.Immediate | undefined;
  const take = (limit: number): T[] => {
    if (queue.length <= limit) {
      const items = queue;
      queue = [];
      return items;
    }
    return queue.splice(0, limit);
  };
  const endOfTurn = (): void => {
    scheduled = undefined;
    const items = take(max);
    if (queue.length > 0) scheduled = setImmediate(endOfTurn);
    if (items.length > 0) run(items);
  };
  return {
    add: (item) => {
      scheduled ??= setImmediate(endOfTurn);
      return queue.push(item);
    },
    // The end-of-turn hand-over stays scheduled (it then finds less, or nothing): a chunked sender flushes many times a
    // turn, and one Immediate per turn is cheaper than one per flush.
    flush: () => {
      try {
        for (let left = queue.length; left > 0;) {
          const items = take(Math.min(left, max));
          left -= items.length;
          run(items);
        }
      } finally {
        // A `run` that threw leaves the rest queued: it still goes at the end of the turn.
        if (queue.length > 0) scheduled ??= setImmediate(endOfTurn);
      }
    },
    pending: () => queue.length,
  };
}
