/**
 * The audit writer thread (a worker_threads entry point, started by threaded-sink.ts). It receives the records of
 * each event-loop turn from the Check path, formats decision rows into JSON lines and appends them to the audit
 * target through the in-thread sink (sink.ts), each message as one write, and reports each write back (`written`).
 * Formatting the ~1 KB line and encoding it was the largest single item of phiguard's own work on the Check path
 * (docs/performance.md); here it runs beside it.
 *
 * It never drops a record silently: a failed target is reported to the Check path, which then refuses every later
 * record, and so denies every later request (fail closed). A message outside the protocol is reported too; the
 * writer then writes what it accepted and stops (transport/worker-channel.ts, `fatal`).
 */
import { workerData } from 'node:worker_threads';
import { connectToParent } from '../transport/index.js';
import { createAuditSink } from './sink.js';
import { ToWriterSchema, WriterInitSchema, type FromWriter } from './writer-protocol.js';

const parent = connectToParent<FromWriter>('audit-writer.ts');
const init = WriterInitSchema.safeParse(workerData);
if (!init.success) {
  parent.post({ t: 'error', code: 'invalid-writer-init' });
} else {
  let failed = false;
  const fail = (code: string): void => {
    if (failed) return;
    failed = true;
    parent.post({ t: 'error', code });
  };
  // The Check path bounds what is buffered (it knows what it has sent and what was written); this sink never refuses
  // for size, so a record the Check path accepted is never dropped here.
  const sink = createAuditSink({
    target: init.data.target,
    fsync: init.data.fsync,
    maxBufferBytes: Number.MAX_SAFE_INTEGER,
    onError: fail,
    onWritten: (records, bytes) => parent.post({ t: 'written', records, bytes }),
  });
  // A target that fails to open reports its error through onError instead.
  void sink.ready().then(() => {
    if (sink.healthy()) parent.post({ t: 'ready' });
  });
  parent.listen({
    schema: ToWriterSchema,
    onMessage: (m) => {
      if (failed) return;
      if (m.t === 'reopen') {
        sink.reopen();
        return;
      }
      for (const r of m.records) {
        if (!(typeof r === 'string' ? sink.writeLine(r) : sink.writeDecision(r))) {
          fail('rejected');
          return;
        }
      }
      // Written now, each message at once: the Check path answers the Checks of these records when told so.
      sink.commit(() => undefined);
    },
    onClose: async () => {
      await sink.close();
      return { t: 'closed' };
    },
    onFatal: async (code) => {
      fail(code);
      await sink.close();
    },
  });
}
