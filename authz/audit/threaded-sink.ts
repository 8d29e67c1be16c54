/**
 * The audit sink the service uses: the same contract as the in-thread sink (sink.ts), with the formatting and
 * writing done by a writer thread (audit-writer.ts).
 *
 * On the Check path a decision costs one row (decision-row.ts) pushed onto this turn's batch; the batch goes to the
 * writer as one message at the end of the turn (setImmediate), a structured clone of ~1 µs per record. The ~1 KB
 * JSON line on the Check path measured 15-20 µs per check inside the server: 10-12 µs to build it and 5-8 µs to
 * encode it for the write (docs/performance.md, fifth session). The writer runs on another core when there is one; with one CPU it shares it, and saves nothing.
 *
 * Fail closed, as the in-thread sink:
 * - `write*` returns false (the caller denies) once the writer reported an error, crashed or exited, and while the
 *   records sent and not yet written exceed `maxBufferBytes` (estimated from the bytes per record the writer reports).
 * - A record is accepted when it is queued in memory, as with any buffered writer: a crash of the process loses what
 *   was not yet written. `close()` (SIGTERM) sends what is queued and waits until the writer has written everything.
 */
import { startWorker } from '../transport/start-worker.js';
import type { DecisionRow } from './decision-row.js';
import type { AuditSink, AuditSinkOptions } from './sink.js';
import { FromWriterSchema, type ToWriter } from './writer-protocol.js';

/** Until the writer reports real sizes: a decision line is ~0.8-1 KB. */
const INITIAL_BYTES_PER_RECORD = 1024;

export function createThreadedAuditSink(options: AuditSinkOptions): AuditSink {
  const max = options.maxBufferBytes ?? 64 * 1024 * 1024;
  const worker = startWorker(import.meta.url, 'audit-writer', { target: options.target });
  let failed = false;
  let closing = false;
  let exited = false;
  let queue: Array<string | DecisionRow> = [];
  let scheduled: NodeJS.Immediate | undefined;
  let sent = 0;
  let written = 0;
  let writtenBytes = 0;
  let accepted = 0;
  let openSettled: () => void = () => undefined;
  const opened = new Promise<void>((resolve) => { openSettled = resolve; });
  let closedSettled: () => void = () => undefined;
  const closed = new Promise<void>((resolve) => { closedSettled = resolve; });

  const fail = (code: string): void => {
    openSettled();
    if (failed) return;
    failed = true;
    options.onError?.(code);
  };
  worker.on('message', (m: unknown) => {
    const msg = FromWriterSchema.safeParse(m);
    if (!msg.success) {
      fail('invalid-writer-message');
      return;
    }
    switch (msg.data.t) {
      case 'ready':
        openSettled();
        break;
      case 'written':
        written += msg.data.records;
        writtenBytes += msg.data.bytes;
        break;
      case 'error':
        fail(msg.data.code);
        break;
      case 'closed':
        closedSettled();
        break;
    }
  });
  worker.on('error', () => fail('audit-writer-crashed'));
  worker.on('exit', () => {
    exited = true;
    if (!closing) fail('audit-writer-exited');
    openSettled();
    closedSettled();
  });

  const post = (m: ToWriter): void => worker.postMessage(m);
  const flush = (): void => {
    scheduled = undefined;
    if (queue.length === 0 || exited) return;
    const records = queue;
    queue = [];
    sent += records.length;
    post({ t: 'records', records });
  };
  const bytesPerRecord = (): number => (written > 0 ? writtenBytes / written : INITIAL_BYTES_PER_RECORD);
  const bufferedBytes = (): number => Math.round((sent + queue.length - written) * bytesPerRecord());
  const accept = (r: string | DecisionRow): boolean => {
    if (failed || closing) return false;
    if (bufferedBytes() > max) return false;
    queue.push(r);
    accepted++;
    scheduled ??= setImmediate(flush);
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
      if (closing) return closed;
      closing = true;
      if (scheduled) clearImmediate(scheduled);
      flush();
      if (!exited) post({ t: 'close' });
      await closed;
      await worker.terminate();
    },
  };
}
