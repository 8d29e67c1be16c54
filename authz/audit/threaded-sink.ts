/**
 * The audit sink the service uses: the same contract as the in-thread sink (sink.ts), with the formatting and
 * writing done by a writer thread (audit-writer.ts).
 *
 * On the Check path a decision costs one row (decision-row.ts) pushed onto this turn's batch (transport/turn-batch.ts);
 * the batch goes to the writer as one message at the end of the turn, a structured clone far cheaper than building
 * and encoding the ~1 KB JSON line there (docs/performance.md). The writer runs on another core when there is one;
 * with one CPU it shares it, and saves nothing.
 *
 * Fail closed, as the in-thread sink:
 * - `write*` returns false (the caller denies) once the writer reported an error, crashed or exited, and while the
 *   records sent and not yet written exceed `maxBufferBytes` (estimated from the bytes per record the writer reports).
 * - `commit(done)` sends what is queued and calls `done(true)` once the writer reports every record accepted so far
 *   written to the target (write(2) returned, in order), or `done(false)` when the writer fails first: the Check
 *   pipeline answers a Check only after its record is written, so a killed process loses no answered decision.
 * - `close()` (SIGTERM) sends what is queued and waits until the writer has written everything.
 */
import type { DecisionRow } from '../model/index.js';
import { createTurnBatch, startWorkerChannel } from '../transport/index.js';
import type { AuditSink, AuditSinkOptions } from './sink.js';
import { FromWriterSchema, type FromWriter, type ToWriter } from './writer-protocol.js';

/** Until the writer reports real sizes: a decision line is ~0.8-1 KB. */
const INITIAL_BYTES_PER_RECORD = 1024;

/** Commits waiting for the writer: each is done once the records written reach its mark (accepted at the time). */
function createCommitQueue(): {
  add(mark: number, done: (written: boolean) => void): void;
  /** Settles every commit `written` covers; with `failed`, every commit (as not written). */
  settle(written: number, failed: boolean): void;
} {
  const commits: { mark: number; done: (written: boolean) => void }[] = [];
  return {
    add: (mark, done) => commits.push({ mark, done }),
    settle: (written, failed) => {
      while (commits.length > 0 && (failed || (commits[0]?.mark ?? Infinity) <= written))
        commits.shift()?.done(!failed);
    },
  };
}

/** Starts the audit writer thread for `options.target` and returns the sink that feeds it. */
export function createThreadedAuditSink(options: AuditSinkOptions): AuditSink {
  const max = options.maxBufferBytes ?? 64 * 1024 * 1024;
  let failed = false;
  let closing = false;
  let accepted = 0;
  let written = 0;
  let writtenBytes = 0;
  let openSettled: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => {
    openSettled = resolve;
  });
  const commits = createCommitQueue();
  const fail = (code: string): void => {
    openSettled();
    if (failed) return;
    failed = true;
    options.onError?.(code);
    commits.settle(written, failed);
  };
  const channel = startWorkerChannel<FromWriter, ToWriter>({
    beside: import.meta.url,
    entry: 'audit-writer',
    workerData: { target: options.target, fsync: options.fsync === true },
    schema: FromWriterSchema,
    onMessage: (m) => {
      switch (m.t) {
        case 'ready':
          openSettled();
          break;
        case 'written':
          written += m.records;
          writtenBytes += m.bytes;
          commits.settle(written, failed);
          break;
        case 'error':
          fail(m.code);
          break;
        case 'closed':
          break;
      }
    },
    onFailure: fail,
  });
  // A writer that ended before its target opened (closed early) never reports `ready`.
  channel.worker.once('exit', openSettled);
  // Records sent to a writer that has exited stay counted as buffered; the sink refuses every record by then anyway.
  const records = createTurnBatch<string | DecisionRow>((batch) => channel.post({ t: 'records', records: batch }));
  const bytesPerRecord = (): number => (written > 0 ? writtenBytes / written : INITIAL_BYTES_PER_RECORD);
  const bufferedBytes = (): number => Math.round((accepted - written) * bytesPerRecord());
  const accept = (r: string | DecisionRow): boolean => {
    if (failed || closing) return false;
    if (bufferedBytes() > max) return false;
    records.add(r);
    accepted++;
    return true;
  };

  return {
    write: (record) => accept(JSON.stringify(record)),
    writeLine: accept,
    writeDecision: accept,
    commit: (done) => {
      records.flush();
      if (failed) done(false);
      else if (written >= accepted) done(true);
      else commits.add(accepted, done);
    },
    reopen: () => {
      records.flush();
      if (!failed && !closing) channel.post({ t: 'reopen' });
    },
    healthy: () => !failed && !closing,
    bufferedBytes,
    written: () => accepted,
    ready: () => opened,
    close: async () => {
      closing = true;
      records.flush();
      await channel.close();
      // Whatever the writer did not report written by now never will be.
      commits.settle(written, true);
    },
  };
}
