/**
 * No answered decision without its record, through the real service as a process:
 * - SIGKILL under load, many times: every decision id an answer carried is in the audit file, once (records of
 *   Checks decided but not yet answered may be there too: a record ahead of its answer is the allowed order).
 * - SIGHUP after `mv audit.jsonl audit.jsonl.1` (logrotate): the records continue in a new file; the two files hold
 *   every answered decision once, and every line is whole.
 * - A target that cannot be written (/dev/full, ENOSPC): every Check is denied, none allowed.
 * `PHIGUARD_KILL_RUNS` sets the number of SIGKILL runs (default 6); odd runs use `--decisions inline`, whose records
 * go through the audit writer thread.
 */
import { readFileSync, renameSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, test } from '@jest/globals';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/check-client.js';
import { CheckInputSchema } from '../../authz/index.js';
import { exampleRequest } from '../helpers/server.js';
import { startServeProcess } from '../helpers/serve-process.js';
import { tempDir } from '../helpers/temp.js';

const RUNS = Number(process.env['PHIGUARD_KILL_RUNS'] ?? 6);
const EXAMPLES = ['scribe-read-encounter.json', 'scribe-population-search.json', 'cds-vitals-search.json'];
const REQUESTS = EXAMPLES.map((n) => toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(n))));
const tmp = tempDir();
afterAll(() => tmp.remove());

const serveArgs = (file: string): string[] => [
  '--policies',
  'examples/policies',
  '--audit-file',
  file,
  '--log-level',
  'warn',
];

/** The decision id and decision an answer carries (dynamic metadata). */
function answered(r: Record<string, unknown>): { id: string; decision: string } {
  const fields = (r['dynamic_metadata'] as { fields?: Record<string, { stringValue?: string }> } | undefined)?.fields;
  return { id: fields?.['decision_id']?.stringValue ?? '', decision: fields?.['decision']?.stringValue ?? '' };
}

/** Record decision ids in audit files, in order (every line must parse: a torn line fails the test). */
function recordedIds(...files: string[]): string[] {
  const ids: string[] = [];
  for (const f of files) {
    let text = '';
    try {
      text = readFileSync(f, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as { type?: string; decisionId?: string };
      if (r.type === 'decision' && r.decisionId !== undefined) ids.push(r.decisionId);
    }
  }
  return ids;
}

/** Keeps `concurrency` Checks in flight on each client until stopped; collects every answer. */
function load(
  clients: CheckClient[],
  concurrency: number,
): { stop(): Promise<void>; answers: ReturnType<typeof answered>[] } {
  const answers: ReturnType<typeof answered>[] = [];
  let running = true;
  let n = 0;
  const loop = async (c: CheckClient): Promise<void> => {
    while (running) {
      try {
        answers.push(answered(await c.check(REQUESTS[n++ % REQUESTS.length] ?? {}, 2_000)));
      } catch {
        return; // the service is gone
      }
    }
  };
  const loops = clients.flatMap((c) => Array.from({ length: concurrency }, () => loop(c)));
  return {
    answers,
    stop: async () => {
      running = false;
      await Promise.all(loops);
    },
  };
}

describe('audit durability: no answered decision without its record', () => {
  test(
    `SIGKILL under load, ${RUNS} times: 0 answered decisions missing, 0 duplicated`,
    async () => {
      const totals = { answered: 0, allowed: 0, missing: 0, duplicated: 0, recorded: 0 };
      for (let run = 0; run < RUNS; run++) {
        const file = path.join(tmp.dir, `kill-${run}.jsonl`);
        // Odd runs decide on the gRPC thread with the audit writer thread (--decisions inline).
        const p = await startServeProcess([...serveArgs(file), ...(run % 2 === 1 ? ['--decisions', 'inline'] : [])]);
        const clients = [createCheckClient(p.address), createCheckClient(p.address)];
        const l = load(clients, 32);
        await new Promise((r) => setTimeout(r, 300 + ((run * 137) % 400)));
        p.child.kill('SIGKILL');
        expect(await p.exited).toBe('SIGKILL');
        await l.stop();
        clients.forEach((c) => c.close());
        const ids = recordedIds(file);
        const seen = new Set(ids);
        totals.answered += l.answers.length;
        totals.allowed += l.answers.filter((a) => a.decision === 'allow').length;
        totals.recorded += ids.length;
        totals.duplicated += ids.length - seen.size;
        totals.missing += l.answers.filter((a) => !seen.has(a.id)).length;
      }
      process.stdout.write(`SIGKILL runs: ${RUNS}, ${JSON.stringify(totals)}\n`);
      expect(totals.answered).toBeGreaterThan(RUNS * 100);
      expect(totals.allowed).toBeGreaterThan(0);
      expect(totals.missing).toBe(0);
      expect(totals.duplicated).toBe(0);
    },
    RUNS * 20_000 + 60_000,
  );

  test('SIGHUP after a rename: the trail continues in a new file, nothing lost or written twice', async () => {
    const file = path.join(tmp.dir, 'rotate.jsonl');
    const p = await startServeProcess(serveArgs(file));
    const client = createCheckClient(p.address);
    const l = load([client], 16);
    await new Promise((r) => setTimeout(r, 400));
    renameSync(file, `${file}.1`);
    p.child.kill('SIGHUP');
    await new Promise((r) => setTimeout(r, 600));
    await l.stop();
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    client.close();
    const before = recordedIds(`${file}.1`);
    const after = recordedIds(file);
    const all = [...before, ...after];
    expect(before.length).toBeGreaterThan(0);
    expect(after.length).toBeGreaterThan(0);
    expect(new Set(all).size).toBe(all.length);
    const seen = new Set(all);
    expect(l.answers.filter((a) => !seen.has(a.id))).toEqual([]);
    // Every Check sent was answered and recorded (SIGTERM drained them).
    expect(all.length).toBe(l.answers.length);
  }, 60_000);

  test('a target that cannot be written (ENOSPC): every Check is denied', async () => {
    const p = await startServeProcess(serveArgs('/dev/full'));
    const client = createCheckClient(p.address);
    const l = load([client], 8);
    await new Promise((r) => setTimeout(r, 300));
    await l.stop();
    client.close();
    p.child.kill('SIGTERM');
    await p.exited;
    expect(l.answers.length).toBeGreaterThan(0);
    expect(l.answers.filter((a) => a.decision !== 'deny')).toEqual([]);
  }, 60_000);
});
