/**
 * `npx tsx bench/own-work.ts`: phiguard's own work per Check, outside grpc-js and HTTP/2, in one process: decode the
 * CheckRequest bytes of each example payload, authorize (FHIR parse, attributes, CEL, lanes, egress), build the
 * audit row (what the Check path hands to the audit writer thread; the JSON line is timed separately: it is the Check
 * path's cost with `--audit-writer inline`) and encode the response. The same steps the service runs per Check, without
 * the transport both servers
 * share, so it isolates what phiguard adds. Much less noisy than the h2load ratio on a shared VM, but a lower
 * bound: it runs with warm caches and little GC pressure.
 * Prints µs per step and per check (median of 5 runs of N checks after a warm-up).
 */
import { readFileSync } from 'node:fs';
import {
  CheckInputSchema,
  ClaimsConfigSchema,
  createAuthorizer,
  policyOnlySnapshot,
  createClaimsResolver,
  readPolicyDir,
} from '../authz/index.js';
import { toGrpcCheckRequest } from '../generator/call/index.js';
import { decisionLine, decisionRow } from '../authz/audit/index.js';
import { authzRoot, createResponseEncoder, decodeCheckRequest } from '../authz/transport/index.js';

const N = Number(process.env['OWN_WORK_CHECKS'] ?? '100000');
const loaded = readPolicyDir('examples/policies');
if (!loaded.ok) throw new Error('example policies did not load');
const set = loaded.value.set;
const authorizer = createAuthorizer({
  snapshot: () => policyOnlySnapshot(set),
  claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
  fhirBasePaths: ['/fhir'],
});
const responses = createResponseEncoder();
const Req = authzRoot().lookupType('envoy.service.auth.v3.CheckRequest');
const ID = '0b7e3a5e-6f0a-4c8e-9d5e-2b8f0a1c3d4e';

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

let sink = 0;
for (const name of ['scribe-read-encounter', 'scribe-note-transaction', 'scribe-population-search']) {
  const input = CheckInputSchema.parse(JSON.parse(readFileSync(`examples/requests/${name}.json`, 'utf8')));
  const bytes = Buffer.from(Req.encode(Req.fromObject(toGrpcCheckRequest(input))).finish());
  const runs: Array<{ decode: number; authorize: number; row: number; line: number; encode: number }> = [];
  for (let run = 0; run < 6; run++) {
    const t = { decode: 0, authorize: 0, row: 0, line: 0, encode: 0 };
    for (let i = 0; i < N; i++) {
      const t0 = performance.now();
      const d = decodeCheckRequest(bytes);
      if (!d.ok) throw new Error(d.error);
      const t1 = performance.now();
      const r = authorizer.authorize(d.input);
      if (r instanceof Promise) throw new Error('unexpected async authorize');
      const t2 = performance.now();
      sink += decisionRow(ID, r.decision, r.attributes, i, Date.now()).length;
      const t2b = performance.now();
      sink += decisionLine(ID, r.decision, r.attributes, i, new Date()).length;
      const t3 = performance.now();
      sink += responses.encode(r.decision, ID).length;
      const t4 = performance.now();
      t.decode += t1 - t0;
      t.authorize += t2 - t1;
      t.row += t2b - t2;
      t.line += t3 - t2b;
      t.encode += t4 - t3;
    }
    if (run > 0) runs.push(t); // run 0 is the warm-up
  }
  const us = (k: 'decode' | 'authorize' | 'row' | 'line' | 'encode'): number =>
    (median(runs.map((r) => r[k])) / N) * 1000;
  const total = us('decode') + us('authorize') + us('row') + us('encode');
  process.stdout.write(
    `${name.padEnd(26)} decode ${us('decode').toFixed(1)} µs | authorize ${us('authorize').toFixed(1)} µs | audit row ${us('row').toFixed(1)} µs (the line, inline writer: ${us('line').toFixed(1)} µs) | response ${us('encode').toFixed(1)} µs | total ${total.toFixed(1)} µs\n`,
  );
}
if (sink === 0) process.exit(1);
