/**
 * `phiguard report accounting` on a generated 1,000,000-record audit file, against a plain `grep` of the patient id
 * over the same file, in the same run. Usage: npx tsx bench/report-scale.ts [records]
 */
import { spawnSync } from 'node:child_process';
import { createWriteStream, mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

const N = Number(process.argv[2] ?? '1000000');
const dir = path.resolve('bench/out');
mkdirSync(dir, { recursive: true });
const file = path.join(dir, `audit-${N}.jsonl`);

let seed = 42;
const rand = (): number => (seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648;
const types = ['Observation', 'Encounter', 'Condition', 'MedicationRequest', 'Patient', 'DocumentReference'];
const agents = ['ambient-scribe', 'cds-sepsis', 'prior-auth'];

async function generate(): Promise<void> {
  const out = createWriteStream(file);
  const t0 = Date.parse('2026-08-01T00:00:00Z');
  for (let i = 0; i < N; i++) {
    const p = i % 50_000 === 12_345 ? 'p-012345' : `p-${String(Math.floor(rand() * 50_000)).padStart(6, '0')}`;
    const time = new Date(t0 + i * 7_000).toISOString();
    const rt = types[Math.floor(rand() * types.length)] ?? 'Observation';
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
      method: 'GET',
      host: 'fhir.hospital.internal',
      interaction: 'search-type',
      resourceType: rt,
      resourceId: '',
      operation: '',
      compartment: '',
      patients: [p],
      patientsUnresolved: [],
      entries: [],
      invalidReason: '',
      decision: rand() < 0.97 ? 'allow' : 'deny',
      reason: 'rule-allow',
      rule: 'read-chart',
      mode: 'enforce',
      status: 200,
      policyVersion: 'bcb9945a520ade06',
      latencyUs: 150,
      breakGlass: '',
      egress: null,
      exception: '',
    };
    if (!out.write(`${JSON.stringify(rec)}\n`)) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((r) => out.end(() => r()));
}

function timed(cmd: string, args: string[]): { ms: number; stdout: string } {
  const t = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  if (r.status !== 0 && r.status !== 1) throw new Error(`${cmd} failed: ${r.stderr}`);
  return { ms: Number(process.hrtime.bigint() - t) / 1e6, stdout: r.stdout };
}

await generate();
const patient = 'p-012345'; // chosen below to exist in the data

const grep = timed('grep', ['-c', `"${patient}"`, file]);
const report = timed('node', [
  'bin/phiguard.js',
  'report',
  'accounting',
  file,
  '--patient',
  patient,
  '--format',
  'json',
  '--include-denied',
]);
const rows = (JSON.parse(report.stdout) as unknown[]).length;
process.stdout.write(
  `report accounting over ${N.toLocaleString()} records (${(statSync(file).size / 1e6).toFixed(0)} MB)\n`,
);
process.stdout.write(`  grep -c '"${patient}"': ${grep.ms.toFixed(0)} ms (${grep.stdout.trim()} lines)\n`);
process.stdout.write(
  `  phiguard report accounting --patient ${patient}: ${report.ms.toFixed(0)} ms (${rows} records, parsed and period-filtered)\n`,
);
process.stdout.write(`  ratio report/grep: ${(report.ms / grep.ms).toFixed(2)}\n`);
