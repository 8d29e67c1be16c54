/**
 * The audit sink: JSON lines to a file (append) or stdout, separate from operational logs (which go to stderr).
 *
 * - Non-blocking: `write` queues into the stream and returns at once; the stream batches writes (writev).
 * - Never silently dropped: if the queue exceeds `maxBufferBytes` (disk stalled) or the stream failed, `write`
 *   returns false and the caller denies the request (no PHI access without an audit record).
 * - `close()` flushes everything queued (SIGTERM drain).
 */
import { createWriteStream, type WriteStream } from 'node:fs';

export interface AuditSink {
  /** Queues one record. Returns false if it could not be accepted (the caller must fail closed). */
  write(record: object): boolean;
  /** True while the sink accepts records. */
  healthy(): boolean;
  /** Bytes queued and not yet written. */
  bufferedBytes(): number;
  /** Records accepted since start. */
  written(): number;
  /** Flushes and closes. */
  close(): Promise<void>;
}

export interface AuditSinkOptions {
  /** File path, or `-` for stdout. */
  target: string;
  maxBufferBytes?: number;
  onError?: (code: string) => void;
}

export function createAuditSink(options: AuditSinkOptions): AuditSink {
  const max = options.maxBufferBytes ?? 64 * 1024 * 1024;
  const toStdout = options.target === '-';
  const stream: WriteStream = toStdout
    ? createWriteStream('', { fd: 1, autoClose: false, highWaterMark: 256 * 1024 })
    : createWriteStream(options.target, { flags: 'a', highWaterMark: 256 * 1024, mode: 0o600 });
  let failed = false;
  let count = 0;
  stream.on('error', (e: NodeJS.ErrnoException) => {
    failed = true;
    options.onError?.(e.code ?? 'error');
  });
  return {
    write(record) {
      if (failed || stream.writableLength > max || stream.destroyed || stream.writableEnded) return false;
      stream.write(`${JSON.stringify(record)}\n`);
      count++;
      return true;
    },
    healthy: () => !failed && !stream.destroyed,
    bufferedBytes: () => stream.writableLength,
    written: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        if (stream.destroyed || stream.writableEnded) {
          resolve();
          return;
        }
        stream.end(() => resolve());
        stream.once('error', () => resolve());
      }),
  };
}
