/**
 * The reports' reader (generator/report/read-audit.ts) on fixture trails: replicas merged in time order, gzip by
 * its magic, duplicates dropped and counted, older v1 records still read, and lines that are not records an error
 * naming file and line, or counted with skipCorrupt.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { describe, expect, test } from '@jest/globals';
import { auditRecords, newStats, type AuditRecord, type ReadStats } from '../../generator/report/index.js';
import { tempDir } from '../helpers/temp.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');
const fx = (name: string): string => path.join(FIX, name);

async function readAll(
  files: string[],
  o: { needles?: string[]; skipCorrupt?: boolean } = {},
): Promise<{ got: AuditRecord[]; stats: ReadStats; skipped: Array<[string, number, readonly number[]]> }> {
  const stats = newStats(files);
  const skipped: Array<[string, number, readonly number[]]> = [];
  const got: AuditRecord[] = [];
  const opts = {
    needles: o.needles ?? [],
    skipCorrupt: o.skipCorrupt ?? false,
    stats,
    onSkipped: (f: string, n: number, first: readonly number[]) => void skipped.push([f, n, first]),
  };
  for await (const r of auditRecords(files, opts)) got.push(r);
  return { got, stats, skipped };
}
const ids = (rs: AuditRecord[]): unknown[] => rs.map((r) => r.record['decisionId'] ?? r.record['type']);

describe('reading audit trails', () => {
  test('replica files are merged in time order, whatever order they are given in', async () => {
    for (const files of [
      [fx('replica-a.jsonl'), fx('replica-b.jsonl')],
      [fx('replica-b.jsonl'), fx('replica-a.jsonl')],
    ]) {
      const { got, stats } = await readAll(files);
      expect(ids(got)).toEqual(['d-1', 'd-2', 'd-3', 'd-4', 'd-5', 'd-6']);
      expect(stats).toMatchObject({ recordsRead: 6, linesSkipped: 0, duplicatesDropped: 0 });
    }
  });

  test('a file given twice, or a gzipped copy of it, counts each decision once', async () => {
    const t = tempDir();
    try {
      const gz = t.write('a.gz.jsonl', '');
      // Named without .gz: gzip is recognised by its magic bytes.
      writeFileSync(gz, gzipSync(readFileSync(fx('replica-a.jsonl'))));
      const { got, stats } = await readAll([fx('replica-a.jsonl'), gz, fx('replica-b.jsonl'), fx('replica-a.jsonl')]);
      expect(ids(got)).toEqual(['d-1', 'd-2', 'd-3', 'd-4', 'd-5', 'd-6']);
      expect(stats).toMatchObject({ recordsRead: 12, duplicatesDropped: 6 });
    } finally {
      t.remove();
    }
  });

  test('needles select the lines parsed; every line is still counted', async () => {
    const { got, stats } = await readAll([fx('replica-a.jsonl'), fx('replica-b.jsonl')], { needles: ['"d-4"'] });
    expect(ids(got)).toEqual(['d-4']);
    expect(stats.recordsRead).toBe(6);
  });

  test('a v1 decision record written before the later fields existed is still read', async () => {
    const { got } = await readAll([fx('older-v1.jsonl')]);
    expect(got).toEqual([
      {
        kind: 'decision',
        record: expect.objectContaining({
          decisionId: 'd-7',
          requestTime: '2026-08-01T10:00:07.000Z',
          breakGlass: '',
          egress: null,
          exception: '',
          unresolvedAllowed: [],
          breakGlassAttempts: [],
        }),
      },
    ]);
  });

  test('a line that is not a record is an error naming the file and its line', async () => {
    await expect(readAll([fx('mixed.jsonl')])).rejects.toThrow(
      `${fx('mixed.jsonl')}:2: not a phiguard.audit/v1 record`,
    );
    // Not selected by the needles, the torn line 3 is still found by its frame.
    await expect(readAll([fx('mixed.jsonl')], { needles: ['"d-8"'] })).rejects.toThrow(`${fx('mixed.jsonl')}:3:`);
  });

  test('with skipCorrupt, such lines are skipped and counted, and the records kept', async () => {
    const { got, stats, skipped } = await readAll([fx('mixed.jsonl')], { skipCorrupt: true });
    expect(got.map((r) => [r.kind, r.record['decisionId']])).toEqual([
      ['decision', 'd-8'],
      ['other', 'd-10'],
      ['decision', 'd-11'],
    ]);
    expect(stats).toMatchObject({ recordsRead: 3, linesSkipped: 3 });
    expect(skipped).toEqual([[fx('mixed.jsonl'), 3, [2, 3, 5]]]);
  });

  test('a file that cannot be read is an io error', async () => {
    await expect(readAll([fx('no-such-file.jsonl')])).rejects.toMatchObject({ code: 'io' });
  });
});
