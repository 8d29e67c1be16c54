/**
 * Checks that arrive in one event-loop turn, handled together at the end of it.
 *
 * Envoy multiplexes the checks of a worker over one HTTP/2 connection, so one socket read carries many of them, and
 * grpc-js hands each to the Check handler in turn. Handled one by one, phiguard's decision code and grpc-js's
 * response code alternate for every check and evict each other from the CPU caches: in the server, the decision
 * work measured 3-4x its cost in a tight loop. Queued and handled at the end of the turn (setImmediate: after the
 * I/O callbacks of this loop iteration), in two passes (every decision, then every response), each stays warm.
 * With alternating runs on this project's benchmark (read payload), that took phiguard from ~0.70 to ~0.94 of a bare
 * server's throughput (docs/performance.md). At a fixed request rate it added no measurable latency: node's HTTP/2
 * session writes the responses of a turn to the socket together either way.
 *
 * `max` bounds a batch: a turn with more checks is handled in several batches, one per turn, so a burst does not
 * hold the first responses back behind a long queue.
 */
export interface TurnBatch<T> {
  /** Queues an item; the batch runs at the end of the current turn. */
  add(item: T): void;
  /** Items queued and not yet handed to `run`. */
  pending(): number;
}

export function createTurnBatch<T>(run: (items: readonly T[]) => void, max = 256): TurnBatch<T> {
  if (!Number.isInteger(max) || max < 1) throw new RangeError(`turn batch max must be a positive integer, got ${max}`);
  const queue: T[] = [];
  let scheduled = false;
  const flush = (): void => {
    scheduled = false;
    const items = queue.splice(0, max);
    if (queue.length > 0) schedule();
    run(items);
  };
  const schedule = (): void => {
    if (scheduled) return;
    scheduled = true;
    setImmediate(flush);
  };
  return {
    add: (item) => {
      queue.push(item);
      schedule();
    },
    pending: () => queue.length,
  };
}
