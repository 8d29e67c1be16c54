/**
 * HTTP/2 flow-control windows for the Check listener.
 *
 * Envoy multiplexes every check of a worker over one HTTP/2 connection. With Node's default 64 KiB receive windows,
 * tens of concurrent checks of a few KB on one connection stall on WINDOW_UPDATE round trips (docs/performance.md has
 * the latency with and without). grpc-js 1.14 has no server option for this, so each HTTP/2 server it creates
 * (http2-server-hook.ts)
 * gets Node's public `Http2Server.updateSettings({initialWindowSize})` and each session `setLocalWindowSize()`.
 * A test asserts the advertised settings, so a grpc-js change that breaks this fails loudly.
 */
import type { ServerHttp2Session } from 'node:http2';
import type { Server } from '@grpc/grpc-js';
import { onHttp2Server } from './http2-server-hook.js';

export function applyHttp2Windows(server: Server, windowBytes: number): boolean {
  return onHttp2Server(server, (h2) => {
    h2.updateSettings({ initialWindowSize: windowBytes });
    h2.on('session', (session: ServerHttp2Session) => {
      const apply = (): void => {
        try {
          session.setLocalWindowSize(windowBytes);
        } catch {
          /* session already closing */
        }
      };
      if (session.connecting) session.once('connect', apply);
      else apply();
    });
  });
}
