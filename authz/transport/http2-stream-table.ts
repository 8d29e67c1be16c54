/**
 * The table of open streams of each HTTP/2 session on the Check listener: an IdTable (id-table.ts) in place of Node's
 * own `Map`.
 *
 * Node's HTTP/2 core keeps a session's open streams in one long-lived `Map` (`session[kState].streams`: `set` when a
 * stream opens, `delete` when it closes). Envoy sends every check of a worker on one connection, so that one Map sees
 * an insert and a delete per check, forever: the pattern id-table.ts describes, where V8's obsolete Map tables keep
 * every stream, with its grpc-js call objects and request buffers, alive through every scavenge until the next
 * mark-compact.
 *
 * Under sustained load every grpc-js server falls into that state, a bare allow-all server included: scavenges carry
 * several times the live data and pause longer, and mark-compacts follow each other. With the table the same servers
 * stay out of it (docs/performance.md, "The HTTP/2 stream table", has the measurements and how they were taken).
 *
 * Node's HTTP/2 core uses `get`, `set`, `delete`, `size` and `forEach` on the Map (v20 to v24:
 * lib/internal/http2/core.js); IdTable keeps Map semantics for those. The swap reaches into Node's internal session
 * state; if that is not where this expects it, the session keeps its Map (correct, slower) and the listener logs a
 * warning; tests assert the swap on the running Node (test/transport/node-runtime.test.ts), so a Node release that
 * moves it fails the suite.
 */
import type { ServerHttp2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import { onHttp2Server } from './http2-server-hook.js';
import { IdTable } from './id-table.js';

/** Node's internal state of a session (`session[kState]`) and the streams it holds, if it has them. */
export function sessionStreams(session: ServerHttp2Session): { state: object; streams: unknown } | undefined {
  for (const key of Object.getOwnPropertySymbols(session)) {
    if (key.description !== 'state') continue;
    const state: unknown = Reflect.get(session, key);
    if (typeof state === 'object' && state !== null && Reflect.has(state, 'streams'))
      return { state, streams: Reflect.get(state, 'streams') };
  }
  return undefined;
}

/**
 * Replaces the stream Map of one server session with an IdTable (moving any entries it holds). False, and the
 * session untouched, if Node's session state is not where and what this expects.
 */
export function useStreamTable(session: ServerHttp2Session): boolean {
  const found = sessionStreams(session);
  // Node's internal SafeMap is a Map without Map.prototype in its chain: recognise it by its brand, not instanceof.
  if (found === undefined || Object.prototype.toString.call(found.streams) !== '[object Map]') return false;
  const table = new IdTable<object>();
  let complete = true;
  try {
    Map.prototype.forEach.call(found.streams, (value: unknown, id: unknown) => {
      if (typeof id === 'number' && typeof value === 'object' && value !== null) table.set(id, value);
      else complete = false;
    });
  } catch {
    return false; // not a real Map after all: leave the session as it is
  }
  return complete && Reflect.set(found.state, 'streams', table);
}

/**
 * Gives every session of every HTTP/2 server `server` creates from now on an IdTable for its streams. `onMiss` is
 * told (once per session) when a session keeps Node's Map. False if grpc-js no longer has the hook
 * (http2-server-hook.ts).
 */
export function applyStreamTable(server: Server, onMiss: () => void = () => undefined): boolean {
  return onHttp2Server(server, (h2) => {
    h2.on('session', (session: ServerHttp2Session) => {
      if (!useStreamTable(session)) onMiss();
    });
  });
}
