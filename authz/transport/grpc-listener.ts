/**
 * The gRPC listener: envoy.service.auth.v3.Authorization/Check and grpc.health.v1.Health on one grpc-js server, with
 * the HTTP/2 windows Envoy's traffic shape needs (http2-windows.ts) and a stream table per session that keeps the
 * garbage collector out of a promotion spiral under that traffic (http2-stream-table.ts). It decides nothing: every
 * Check goes to `check` with a `reply` that hands the encoded CheckResponse back to grpc-js. service/start-inline.ts
 * (engine in the
 * same thread) and service/start-threaded.ts (engine on a decision thread) both listen through it.
 */
import * as grpc from '@grpc/grpc-js';
import { HealthImplementation } from 'grpc-health-check';
import { rawAccessLogServiceDefinition } from './access-log-wire.js';
import { applyStreamTable } from './http2-stream-table.js';
import { applyHttp2Windows } from './http2-windows.js';

export const AUTHZ_SERVICE = 'envoy.service.auth.v3.Authorization';

/** Where and how to listen. */
export interface ListenOptions {
  host: string;
  port: number;
  /** HTTP/2 receive window per stream and per connection (http2-windows.ts). */
  http2WindowBytes: number;
  /**
   * SETTINGS_MAX_CONCURRENT_STREAMS: Checks open at once on one connection (default: Node's, unbounded). A client
   * past it holds its further streams until one closes, so one connection cannot queue thousands of Checks ahead of
   * another's, and the memory their calls hold is bounded.
   */
  http2MaxStreams?: number;
}

/**
 * The receiver of Envoy's access-log streams (`serve --proxy-audit`): each `StreamAccessLogsMessage` in wire bytes,
 * with the `x-forwarded-client-cert` header of its stream (undefined when absent, or given more than once).
 */
export type AccessLogReceiver = (message: Buffer, xfcc: string | undefined) => void;

export interface CheckListener {
  port: number;
  /** grpc.health.v1 status of the whole server and of the Authorization service. */
  setServing(serving: boolean): void;
  /** Stops taking new Checks and waits for the in-flight ones to be answered, at most `graceMs`; then forces. */
  shutdown(graceMs: number): Promise<void>;
}

/** Binds the listener. Rejects with an Error naming the address when it cannot listen. */
export async function listenForChecks(
  config: ListenOptions,
  service: grpc.ServiceDefinition,
  check: (request: unknown, reply: (bytes: Buffer) => void) => void,
  log: { warn(message: string): void },
  accessLogs?: AccessLogReceiver,
): Promise<CheckListener> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 16 * 1024 * 1024,
    'grpc.keepalive_permit_without_calls': 1,
    ...(config.http2MaxStreams === undefined ? {} : { 'grpc.max_concurrent_streams': config.http2MaxStreams }),
  });
  if (!applyHttp2Windows(server, config.http2WindowBytes))
    log.warn('could not tune HTTP/2 windows (grpc-js internals changed)');
  let missed = false;
  const tabled = applyStreamTable(server, () => {
    if (missed) return;
    missed = true;
    log.warn("HTTP/2 sessions keep Node's stream Map (node internals changed): expect longer GC pauses under load");
  });
  if (!tabled)
    log.warn(
      'could not install the HTTP/2 stream table (grpc-js internals changed): expect longer GC pauses under load',
    );
  server.addService(service, {
    Check: (call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
      check(call.request, (bytes) => callback(null, bytes));
    },
  });
  const streams = accessLogs === undefined ? undefined : serveAccessLogs(server, accessLogs);
  const health = new HealthImplementation({ '': 'SERVING', [AUTHZ_SERVICE]: 'SERVING' });
  health.addToServer(server);
  const port = await new Promise<number>((resolve, reject) => {
    server.bindAsync(`${config.host}:${config.port}`, grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    );
  }).catch((e: unknown) => {
    server.forceShutdown();
    throw new Error(`cannot listen on ${config.host}:${config.port}: ${e instanceof Error ? e.message : 'error'}`);
  });
  return {
    port,
    setServing: (serving) => {
      const status = serving ? 'SERVING' : 'NOT_SERVING';
      health.setStatus('', status);
      health.setStatus(AUTHZ_SERVICE, status);
    },
    shutdown: (graceMs) =>
      new Promise<void>((resolve) => {
        // Access-log streams stay open for the proxy's life: they end here, with everything received recorded.
        streams?.endAll();
        const t = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        t.unref();
        server.tryShutdown(() => {
          clearTimeout(t);
          resolve();
        });
      }),
  };
}

/**
 * Adds `envoy.service.accesslog.v3.AccessLogService`: every message of every stream goes to `receive`, in order; a
 * stream the proxy ends is answered OK. `endAll` answers the open ones (shutdown: the proxy reconnects elsewhere).
 */
function serveAccessLogs(server: grpc.Server, receive: AccessLogReceiver): { endAll(): void } {
  type Stream = grpc.ServerReadableStream<unknown, unknown>;
  const open = new Map<Stream, grpc.sendUnaryData<unknown>>();
  const end = (call: Stream): void => {
    const done = open.get(call);
    if (done === undefined) return;
    open.delete(call);
    done(null, Buffer.alloc(0));
  };
  server.addService(rawAccessLogServiceDefinition(), {
    StreamAccessLogs: (call: Stream, callback: grpc.sendUnaryData<unknown>) => {
      open.set(call, callback);
      const values = call.metadata.get('x-forwarded-client-cert');
      const xfcc = values.length === 1 && typeof values[0] === 'string' ? values[0] : undefined;
      call.on('data', (message: unknown) => {
        if (Buffer.isBuffer(message)) receive(message, xfcc);
      });
      call.on('end', () => end(call));
      call.on('error', () => open.delete(call));
      call.on('cancelled', () => open.delete(call));
    },
  });
  return {
    endAll: () => {
      for (const call of [...open.keys()]) end(call);
    },
  };
}
