/**
 * The audit sink: JSON lines to a file (append) or stdout, separate from operational logs (which go to stderr).
 *
 * - Durable before answered: `write` serializes the record onto this turn's batch (transport/turn-batch.ts) and
 *   returns at once; `commit` writes every accepted record to the target with write(2) (handed to the kernel: a
 *   killed process loses none of them) and only then says so, and the Check pipeline answers a Check only after the
 *   commit that covers its record (service/check-pipeline.ts). Records written outside a Check (containment events)
 *   go at the end of the turn. With `fsync`, each write is followed by fdatasync(2): the records then survive a
 *   power loss too, at the cost measured in docs/performance.md.
 * - One write per batch, from the thread that decides: a record costs no thread hop, and write(2) of a batch to the
 *   page cache takes microseconds. The service's writer thread (threaded-sink.ts) runs this sink in its own thread.
 * - Never silently dropped: if pending bytes exceed `maxBufferBytes` or the target failed, `write` returns false and
 *   the caller denies the request (no PHI access without an audit record); a failed commit makes the pipeline deny
 *   the Checks it covers.
 * - `reopen()` (SIGHUP, logrotate's convention) writes what is pending to the old file and continues in a file newly
 *   opened at the same path: no record is lost or written twice.
 * - `close()` writes everything pending (SIGTERM drain).
 * Files are created 0600 and an existing target is narrowed to 0600: an audit trail names patients.
 */
import { closeSync, fchmodSync, fdatasyncSync, openSync, writeSync } from 'node:fs';
import { createTurnBatch } from '../transport/index.js';
import { createDecisionRowFormatter, type DecisionRow } from './decision-row.js';

export interface AuditSink {
  /** Queues one record. Returns false if it could not be accepted (the caller must fail closed). */
  write(record: object): boolean;
  /** Queues one record already serialized as a JSON line (no newline). Same contract as `write`. */
  writeLine(line: string): boolean;
  /** Queues one decision record, as a row (decision-row.ts). Same contract as `write`. */
  writeDecision(row: DecisionRow): boolean;
  /**
   * Writes every record accepted so far to the target, then calls `done(true)`; `done(false)` when they could not all
   * be written (the target failed: every later record is refused too). `done` may run before `commit` returns.
   */
  commit(done: (written: boolean) => void): void;
  /** Continues in a file newly opened at the target path, after writing what is pending to the old one (SIGHUP). */
  reopen(): void;
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
  /** fdatasync(2) after every write (`--audit-fsync`): durable across power loss, not only process death. */
  fsync?: boolean;
  onError?: (code: string) => void;
  /** Called when a chunk of records has been written to the target (after the write completed). */
  onWritten?: (records: number, bytes: number) => void;
}

/** How long a write to a full non-blocking pipe (stdout) waits before it tries again. */
const EAGAIN_WAIT_MS = 1;
const waitCell = new Int32Array(new SharedArrayBuffer(4));

/** Writes all of `buf` to `fd`: write(2) may take less than asked (pipes), or EAGAIN on a full non-blocking pipe. */
function writeAll(fd: number, buf: Buffer): void {
  for (let off = 0; off < buf.length;) {
    try {
      off += writeSync(fd, buf, off, buf.length - off);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EAGAIN') throw e;
      Atomics.wait(waitCell, 0, 0, EAGAIN_WAIT_MS);
    }
  }
}

function openTarget(target: string): number {
  const fd = openSync(target, 'a', 0o600);
  try {
    fchmodSync(fd, 0o600);
  } catch (e) {
    closeSync(fd);
    throw e;
  }
  return fd;
}

/** The target's file descriptor and the writes to it; an error is thrown to the caller. */
interface Target {
  write(chunk: Buffer): void;
  reopen(): void;
  close(): void;
}

function fileTarget(path: string, fsync: boolean): Target {
  let fd = openTarget(path);
  return {
    write: (chunk) => {
      writeAll(fd, chunk);
      if (fsync) fdatasyncSync(fd);
    },
    reopen: () => {
      const next = openTarget(path);
      closeSync(fd);
      fd = next;
    },
    close: () => closeSync(fd),
  };
}

const stdoutTarget: Target = {
  write: (chunk) => writeAll(1, chunk),
  reopen: () => undefined,
  close: () => undefined,
};

/** Opens `options.target` (append, 0600) or stdout and returns the sink writing to it from this thread. */
export function createAuditSink(options: AuditSinkOptions): AuditSink {
  const max = options.maxBufferBytes ?? 64 * 1024 * 1024;
  let failed = false;
  let closed = false;
  let count = 0;
  /** Characters of the lines queued and not yet written, newlines included. */
  let pendingChars = 0;
  const fail = (e: unknown): void => {
    if (failed) return;
    failed = true;
    options.onError?.((e as NodeJS.ErrnoException).code ?? 'error');
  };
  let target: Target | undefined;
  try {
    target = options.target === '-' ? stdoutTarget : fileTarget(options.target, options.fsync === true);
  } catch (e) {
    fail(e);
  }
  /** Runs one operation on the target; a failure marks the sink failed (every later record is refused). */
  const attempt = (op: (t: Target) => void): boolean => {
    if (failed || target === undefined) return false;
    try {
      op(target);
      return true;
    } catch (e) {
      fail(e);
      return false;
    }
  };
  const lines = createTurnBatch<string>((batch) => {
    pendingChars = 0;
    const chunk = Buffer.from(`${batch.join('\n')}\n`);
    if (attempt((t) => t.write(chunk))) options.onWritten?.(batch.length, chunk.length);
  });
  const writeLine = (line: string): boolean => {
    if (failed || closed || pendingChars > max) return false;
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
    commit: (done) => {
      lines.flush();
      done(!failed);
    },
    reopen: () => {
      lines.flush();
      if (!closed) attempt((t) => t.reopen());
    },
    healthy: () => !failed && !closed,
    ready: () => Promise.resolve(),
    bufferedBytes: () => pendingChars,
    written: () => count,
    close: () => {
      if (!closed) {
        lines.flush();
        closed = true;
        // Everything was written: a close error loses nothing.
        attempt((t) => t.close());
      }
      return Promise.resolve();
    },
  };
}
