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
 * - A record is accepted when it is queued in memory, as with any buffered writer: a crash of the process loses what
 *   was not yet written. `close()` (SIGTERM) sends what is queued and waits until the writer has written everything.
 */
import type { DecisionRow } from '../model/index.js';
import { createTurnBatch, startWorkerChannel } from '../transport/index.js';
import type { AuditSink, AuditSinkOptions } from './sink.js';
import { FromWriterSchema, type FromWriter, type ToWriter } from './writer-protocol.js';

/** Until the writer reports real sizes: a decision line is ~0.8-1 KB. */
const INITIAL_BYTES_PER_RECORD = 1024;

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
  const fail = (code: string): void => {
    openSettled();
    if (failed) return;
    failed = true;
    options.onError?.(code);
  };
  const channel = startWorkerChannel<FromWriter, ToWriter>({
    beside: import.meta.url,
    entry: 'audit-writer',
    workerData: { target: options.target },
    schema: FromWriterSchema,
    onMessage: (m) => {
      switch (m.t) {
        case 'ready':
          openSettled();
          break;
        case 'written':
          written += m.records;
          writtenBytes += m.bytes;
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
    healthy: () => !failed && !closing,
    bufferedBytes,
    written: () => accepted,
    ready: () => opened,
    close: async () => {
      closing = true;
      records.flush();
      await channel.close();
    },
  };
}
