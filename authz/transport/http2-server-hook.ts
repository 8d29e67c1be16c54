/**
 * The one place phiguard reaches into grpc-js: each node:http2 server a grpc-js 1.14 `Server` binds is created by its
 * (internal) method `createHttp2Server`, and grpc-js has no option for the HTTP/2 tuning Envoy's traffic shape needs.
 * Wrapping that method lets http2-windows.ts and http2-stream-table.ts see every HTTP/2 server and session. Tests
 * assert that each tuning took effect, so a grpc-js release that drops the method fails the suite loudly, and the
 * listener logs a warning and serves untuned (correct, slower) if it ever runs against one.
 */
import type { Http2Server } from 'node:http2';
import type { Server } from '@grpc/grpc-js';

/** Calls `tune` with each HTTP/2 server `server` creates from now on. False if grpc-js no longer has the hook. */
export function onHttp2Server(server: Server, tune: (h2: Http2Server) => void): boolean {
  const original: unknown = Reflect.get(server, 'createHttp2Server');
  if (typeof original !== 'function') return false;
  Reflect.set(server, 'createHttp2Server', function (this: unknown, ...args: unknown[]): unknown {
    const h2: unknown = Reflect.apply(original, this, args);
    if (isHttp2Server(h2)) tune(h2);
    return h2;
  });
  return true;
}

function isHttp2Server(x: unknown): x is Http2Server {
  return (
    typeof x === 'object' &&
    x !== null &&
    typeof Reflect.get(x, 'updateSettings') === 'function' &&
    typeof Reflect.get(x, 'on') === 'function'
  );
}
