/**
 * The streaming reports on a generated audit file of 1,000,000 records, each against `grep -c` of the needle it
 * searches for, over the same file, in the same run (median of `ROUNDS` runs each, alternated so both see the same
 * page cache and load). A report does more than grep: it checks every line's frame, parses and validates the lines it
 * selects, merges and de-duplicates them; the ratio is what that costs. Target: at most 2.
 *
 * Each line also gives the rows the report listed beside the lines grep counted (for baa-violations and accounting
 * they are the same lines, and the run fails if they differ) and the load average before and after, as the machine
 * may be shared.
 *
 * Usage: npm run build && npx tsx bench/report-scale.ts [records] (runs bin/phiguard.js, the built CLI)
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, existsSync, mkdirSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const N = Number(process.argv[2] ?? '1000000');
const ROUNDS = 5;
const dir = path.resolve('bench/out');
mkdirSync(dir, { recursive: true });
// The name changes with the records' shape (v2: with the trace and proxy fields), so a file of an older shape is not
// measured by mistake.
const file = path.join(dir, `report-audit-v2-${N}.jsonl`);

let seed = 42;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const types = ['Observation', 'Encounter', 'Condition', 'MedicationRequest', 'Patient', 'DocumentReference'];
const agents = ['ambient-scribe', 'cds-sepsis', 'prior-auth'];
const PATIENT = 'p-012345';

/**
 * Decision records as the writer writes them now (every field, in order): FHIR searches, 1 in 200 an outside request.
 */
async function generate(): Promise<void> {
  const out = createWriteStream(file);
  const t0 = Date.parse('2026-08-01T00:00:00Z');
  for (let i = 0; i < N; i++) {
    const p = i % 50_000 === 12_345 ? PATIENT : `p-${String(Math.floor(rand() * 50_000)).padStart(6, '0')}`;
    const time = new Date(t0 + i * 7_000).toISOString();
    const rt = types[Math.floor(rand() * types.length)] ?? 'Observation';
    const outside = i % 200 === 7;
    const rec = {
      format: 'phiguard.audit/v1',
      type: 'decision',
      time,
      requestTime: time,
      decisionId: `d-${i}`,
      requestId: `r-${i}`,
      agent: agents[i % 3],
      principal: `spiffe://cluster.local/ns/x/sa/${agents[i % 3] ?? ''}`,
      clinician: `Practitioner/dr-${i % 200}`,
      authSource: 'jwt_authn',
      method: outside ? 'POST' : 'GET',
      host: outside ? 'api.vendor.example' : 'fhir.hospital.internal',
      interaction: outside ? '' : 'search-type',
      resourceType: outside ? '' : rt,
      resourceId: '',
      operation: '',
      compartment: '',
      patients: outside ? [] : [p],
      patientsUnresolved: [],
      entries: [],
      invalidReason: '',
      decision: outside || rand() < 0.03 ? 'deny' : 'allow',
      reason: outside ? 'baa-not-covered' : 'rule-allow',
      rule: outside ? 'baa-registry' : 'read-chart',
      mode: 'enforce',
      status: outside ? 403 : 200,
      policyVersion: 'bcb9945a520ade06',
      latencyUs: 150,
      breakGlass: '',
      egress: outside
        ? {
            host: 'api.vendor.example',
            port: 443,
            covered: false,
            reason: 'no-agreement',
            vendor: '',
            agreementId: '',
            registryVersion: 'r1',
          }
        : null,
      exception: '',
      unresolvedAllowed: [],
      breakGlassAttempts: [],
      // Requests in a traced mesh carry trace headers, whose ids the service records.
      traceId: (i * 2654435761).toString(16).padStart(32, '0').slice(-32),
      spanId: (i * 40503 + 1).toString(16).padStart(16, '0').slice(-16),
      decidedBy: 'service',
      reportedBy: '',
    };
    if (!out.write(`${JSON.stringify(rec)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
}

function timed(cmd: string, args: string[]): { ms: number; stdout: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0 && !(cmd === 'grep' && r.status === 1)) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, stdout: r.stdout };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? NaN;

if (!existsSync(file) || process.env['REGENERATE'] === '1') await generate();
const since = ['--since', '2020-01-01T00:00:00Z'];
/** `sameLines`: the report's rows are the lines grep counts (checked, so that both count the same thing). */
const REPORTS: Array<{ name: string; args: string[]; needle: string; sameLines?: true }> = [
  { name: 'accounting', args: ['--patient', PATIENT, '--include-denied'], needle: `"${PATIENT}"`, sameLines: true },
  { name: 'baa-violations', args: since, needle: '"covered":false', sameLines: true },
  { name: 'breakglass', args: since, needle: '"breakGlassAttempts":["' },
  { name: 'aibom', args: [], needle: '"egress":{' },
];

process.stdout.write(
  `reports over ${N.toLocaleString()} records (${(statSync(file).size / 1e6).toFixed(0)} MB), median of ${ROUNDS}\n`,
);
const load = (): string => os.loadavg()[0]?.toFixed(2) ?? '?';
for (const r of REPORTS) {
  const g: number[] = [];
  const p: number[] = [];
  let matched = '';
  let read = 0;
  let rows = 0;
  const loadBefore = load();
  for (let i = 0; i < ROUNDS; i++) {
    const gr = timed('grep', ['-c', '-F', r.needle, file]);
    matched = gr.stdout.trim();
    g.push(gr.ms);
    const rep = timed('node', ['bin/phiguard.js', 'report', r.name, file, ...r.args, '--format', 'json']);
    const out = JSON.parse(rep.stdout) as { recordsRead: number; sections: Array<{ rows: unknown[] }> };
    read = out.recordsRead;
    rows = out.sections.reduce((n, s) => n + s.rows.length, 0);
    p.push(rep.ms);
  }
  if (r.sameLines && String(rows) !== matched) throw new Error(`${r.name}: ${rows} rows, grep counted ${matched}`);
  const [gm, pm] = [median(g), median(p)];
  process.stdout.write(
    `  ${r.name.padEnd(15)} ${pm.toFixed(0).padStart(6)} ms (${read} records read, ${rows} rows)  ` +
      `grep -cF '${r.needle}' ${gm.toFixed(0)} ms (${matched} lines)  ratio ${(pm / gm).toFixed(2)}  ` +
      `load ${loadBefore} -> ${load()}\n`,
  );
}
