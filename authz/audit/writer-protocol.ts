/**
 * Messages between the Check path's thread and the audit writer thread (threaded-sink.ts, audit-writer.ts), carried by
 * a worker channel (transport/worker-channel.ts): both ends parse what they receive with these schemas.
 */
import { z } from 'zod';
import { DecisionRowSchema } from '../model/index.js';
import { CloseSchema } from '../transport/index.js';

/** `workerData` of the writer thread. */
export const WriterInitSchema = z.object({
  /** File path (appended to, created 0600), or `-` for stdout. */
  target: z.string().min(1),
  /** fdatasync(2) after every write. */
  fsync: z.boolean(),
});

/** To the writer: the records of one event-loop turn, in order (a decision row, or any other record as a JSON line). */
export const ToWriterSchema = z.discriminatedUnion('t', [
  z.object({ t: z.literal('records'), records: z.array(z.union([z.string(), DecisionRowSchema])) }),
  /** Continue in a file newly opened at the target path (SIGHUP, log rotation). */
  z.object({ t: z.literal('reopen') }),
  /** Write what was sent, close the target, answer `closed` (the close handshake). */
  CloseSchema,
]);
export type ToWriter = z.infer<typeof ToWriterSchema>;

/** From the writer. */
export const FromWriterSchema = z.discriminatedUnion('t', [
  /** The target is open: records will be written. */
  z.object({ t: z.literal('ready') }),
  /** `records` records (`bytes` bytes) were written to the target (write(2) returned), in the order received. */
  z.object({ t: z.literal('written'), records: z.number().int().nonnegative(), bytes: z.number().int().nonnegative() }),
  /**
   * The writer cannot write (a code such as ENOSPC; `invalid-message` before it stops on a message outside this
   * protocol): every later record is refused.
   */
  z.object({ t: z.literal('error'), code: z.string() }),
  /** Everything received was written and the target closed. */
  z.object({ t: z.literal('closed') }),
]);
export type FromWriter = z.infer<typeof FromWriterSchema>;
