/**
 * The audit writer thread (a worker_threads entry point, started by threaded-sink.ts). It receives the records of
 * each event-loop turn from the Check path, formats decision rows into JSON lines and appends them to the audit
 * target through the in-thread sink (sink.ts). Formatting the ~1 KB line and encoding it was the largest single
 * item of phiguard's own work on the Check path (docs/performance.md, fifth session); here it runs beside it.
 *
 * It never drops a record silently: an invalid message or a failed target is reported to the Check path, which then
 * refuses every later record, and so denies every later request (fail closed).
 */
import { parentPort, workerData } from 'node:worker_threads';
import { createAuditSink } from './sink.js';
import { ToWriterSchema, WriterInitSchema, type FromWriter } from './writer-protocol.js';

const port = parentPort;
if (port === null) throw new Error('audit-writer.ts runs as a worker thread (threaded-sink.ts starts it)');
const post = (m: FromWriter): void => port.postMessage(m);
const init = WriterInitSchema.safeParse(workerData);
if (!init.success) {
  post({ t: 'error', code: 'invalid-writer-init' });
} else {
  let failed = false;
  const fail = (code: string): void => {
    if (failed) return;
    failed = true;
    post({ t: 'error', code });
  };
  // The Check path bounds what is buffered (it knows what it has sent and what was written); this sink never refuses
  // for size, so a record the Check path accepted is never dropped here.
  const sink = createAuditSink({
    target: init.data.target,
    maxBufferBytes: Number.MAX_SAFE_INTEGER,
    onError: fail,
    onWritten: (records, bytes) => post({ t: 'written', records, bytes }),
  });
  // A target that fails to open reports its error through onError instead.
  void sink.ready().then(() => {
    if (sink.healthy()) post({ t: 'ready' });
  });
  port.on('message', (m: unknown) => {
    const msg = ToWriterSchema.safeParse(m);
    if (!msg.success) {
      fail('invalid-message');
      return;
    }
    if (msg.data.t === 'close') {
      void sink.close().then(() => {
        post({ t: 'closed' });
        port.close();
      });
      return;
    }
    if (failed) return;
    for (const r of msg.data.records) {
      if (!(typeof r === 'string' ? sink.writeLine(r) : sink.writeDecision(r))) {
        fail('rejected');
        return;
      }
    }
  });
}
