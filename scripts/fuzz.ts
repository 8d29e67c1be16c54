/**
 * `npm run fuzz [-- --count N --seed S --decisions thread|inline]`: the seeded hostile-request fuzz of
 * test/fuzz/hostile-checks.test.ts at full size (100,000 requests by default), through the real gRPC service with the
 * example policies and BAA registry. Exits 1 when any request is allowed that must not be, or any answer does not
 * have exactly one audit record.
 */
import { parseArgs } from 'node:util';
import { hostileChecks } from '../test/fuzz/hostile-checks.js';
import { sendAll, violations } from '../test/fuzz/run-fuzz.js';
import {
  startTestServer,
  startThreadedTestServer,
  startWithExampleRegistry,
  type ServiceUnderTest,
} from '../test/helpers/server.js';

const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '100000' },
    seed: { type: 'string', default: '20261205' },
    decisions: { type: 'string', default: 'thread' },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
if (!Number.isInteger(count) || count <= 0 || !Number.isInteger(seed)) {
  process.stderr.write('fuzz: --count and --seed must be integers (count > 0)\n');
  process.exit(2);
}

const s = await startWithExampleRegistry<ServiceUnderTest>((o) =>
  values.decisions === 'inline' ? startTestServer(o) : startThreadedTestServer(o),
);
const started = Date.now();
const checks = hostileChecks(seed, count);
const answers = await sendAll(s.addr, checks, 64);
await s.service.close();
const found = violations(checks, answers, s.auditRecords());
const seconds = (Date.now() - started) / 1000;
const byDecision = new Map<string, number>();
for (const a of answers) byDecision.set(a.decision, (byDecision.get(a.decision) ?? 0) + 1);
process.stdout.write(
  `fuzz: ${count} hostile requests (seed ${seed}, --decisions ${values.decisions}) in ${seconds.toFixed(1)} s: ` +
    `${[...byDecision].map(([d, n]) => `${d} ${n}`).join(', ')}; ${found.length} violations\n`,
);
for (const v of found.slice(0, 50)) process.stdout.write(`  ${v}\n`);
await s.stop();
process.exitCode = found.length === 0 ? 0 : 1;
