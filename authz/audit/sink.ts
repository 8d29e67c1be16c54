/**
 * The audit sink: JSON lines to a file (append) or stdout, separate from operational logs (which go to stderr).
 *
 * - Non-blocking: `write` serializes the record onto this turn's batch (transport/turn-batch.ts) and returns at once;
 *   the batch goes to the stream as one chunk at the end of the turn. One `Writable.write` per record costs several
 *   times more on the Check path and keeps each record alive until its own fs.write finished (GC promotion).
 * - Never silently dropped: if pending + queued bytes exceed `maxBufferBytes` (disk stalled) or the stream failed,
 *   `write` returns false and the caller denies the request (no PHI access without an audit record).
 * - `close()` flushes everything pending and queued (SIGTERM drain).
 */
import { createWriteStream, type WriteStream } from 'node:fs';
import { createTurnBatch } from '../transport/index.js';
import { createDecisionRowFormatter, type DecisionRow } from './decision-row.js';

export interface AuditSink {
  /** Queues one record. Returns false if it could not be accepted (the caller must fail closed). */
  write(record: object): boolean;
  /** Queues one record already serialized as a JSON line (no newline). Same contract as `write`. */
  writeLine(line: string): boolean;
  /** Queues one decision record, as a row (decision-row.ts). Same contract as `write`. */
  writeDecision(row: DecisionRow): boolean;
  /** True while the sink accepts records. */
  healthy(): boolean;
  /** Resolves once the target is open or failed to open (then `healthy()` is false). Never rejects. */
  ready(): Promise<void>;
  /** Bytes accepted and not yet written. */
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
  /** Called when a chunk of records has been written to the target (after the write completed). */
  onWritten?: (records: number, bytes: number) => void;
}

/** Opens `options.target` (append, 0600) or stdout and returns the sink writing to it from this thread. */
export function createAuditSink(options: AuditSinkOptions): AuditSink {
  const max = options.maxBufferBytes ?? 64 * 1024 * 1024;
  const toStdout = options.target === '-';
  const stream: WriteStream = toStdout
    ? createWriteStream('', { fd: 1, autoClose: false, highWaterMark: 1024 * 1024 })
    : createWriteStream(options.target, { flags: 'a', highWaterMark: 1024 * 1024, mode: 0o600 });
  let failed = false;
  let count = 0;
  /** Characters of the lines queued and not yet handed to the stream, newlines included. */
  let pendingChars = 0;
  let opened: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => {
    opened = resolve;
  });
  if (toStdout) opened();
  else stream.once('open', () => opened());
  stream.on('error', (e: NodeJS.ErrnoException) => {
    opened();
    failed = true;
    options.onError?.(e.code ?? 'error');
  });
  const onWritten = options.onWritten;
  const lines = createTurnBatch<string>((batch) => {
    if (failed || stream.destroyed) return;
    pendingChars = 0;
    const chunk = `${batch.join('\n')}\n`;
    const records = batch.length;
    if (onWritten)
      stream.write(chunk, (e) => {
        if (!e) onWritten(records, Buffer.byteLength(chunk));
      });
    else stream.write(chunk);
  });
  const writeLine = (line: string): boolean => {
    if (failed || stream.destroyed || stream.writableEnded) return false;
    if (stream.writableLength + pendingChars > max) return false;
    lines.add(line);
    pendingChars += line.length + 1;
    count++;
    return true;
  };
  const format = createDecisionRowFormatter();
  return {
    write: (record) => writeLine(JSON.stringify(record)),
    writeLine,
    writeDecision: (row) => writeLine(format(row)),
    healthy: () => !failed && !stream.destroyed,
    ready: () => ready,
    bufferedBytes: () => stream.writableLength + pendingChars,
    written: () => count,
    close: () =>
      new Promise<void>((resolve) => {
        lines.flush();
        if (stream.destroyed || stream.writableEnded) {
          resolve();
          return;
        }
        stream.end(() => resolve());
        stream.once('error', () => resolve());
      }),
  };
}
