/**
 * The worker of test/transport/worker-channel.test.ts: `workerData.mode` picks how it behaves, one way per way a
 * worker can fail its channel, and `serve` for the protocol and the close handshake.
 */
import { workerData } from 'node:worker_threads';
import { z } from 'zod';
import { CloseSchema, connectToParent } from '../../authz/transport/worker-channel.js';

const ToEntrySchema = z.discriminatedUnion('t', [z.object({ t: z.literal('ping'), n: z.number().int() }), CloseSchema]);
type FromEntry =
  { t: 'ready' } | { t: 'pong'; n: number } | { t: 'fatal'; code: string } | { t: 'closed'; pings: number };

const parent = connectToParent<FromEntry>('worker-channel-entry.ts');
const mode = (workerData as { mode: string }).mode;
if (mode === 'invalid') parent.post({ t: 'pong', n: -1 });
else if (mode === 'exit') process.exit(3);
else if (mode === 'throw') throw new Error('worker-channel-entry: thrown on purpose');
else {
  let pings = 0;
  parent.listen({
    schema: ToEntrySchema,
    onMessage: (m) => {
      if (m.n < 0) {
        parent.fatal('negative-ping');
        return;
      }
      pings++;
      parent.post({ t: 'pong', n: m.n });
    },
    onClose: () => Promise.resolve({ t: 'closed', pings }),
    onFatal: (code) => parent.post({ t: 'fatal', code }),
  });
  parent.post({ t: 'ready' });
}
