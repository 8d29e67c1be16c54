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
  o: { needles?: string[]; skipCorrupt?: boolean; blockBytes?: number } = {},
): Promise<{ got: AuditRecord[]; stats: ReadStats; skipped: Array<[string, number, readonly number[]]> }> {
  const stats = newStats(files);
  const skipped: Array<[string, number, readonly number[]]> = [];
  const got: AuditRecord[] = [];
  const opts = {
    needles: o.needles ?? [],
    skipCorrupt: o.skipCorrupt ?? false,
    stats,
    onSkipped: (f: string, n: number, first: readonly number[]) => void skipped.push([f, n, first]),
    ...(o.blockBytes !== undefined ? { blockBytes: o.blockBytes } : {}),
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

/**
 * A trail of 400 records (decision ids d-0 .. d-399, one in 9 for patient p-3), with CRLF line ends on some, empty
 * lines, and the given corrupt lines put after the given records; the last line has no newline.
 */
function trail(corrupt: Record<number, string> = {}): { text: string; badLines: number[]; selected: string[] } {
  const template = readFileSync(fx('replica-a.jsonl'), 'utf8').split('\n')[0] ?? '';
  const lines: string[] = [];
  const badLines: number[] = [];
  const selected: string[] = [];
  for (let i = 0; i < 400; i++) {
    const time = new Date(Date.parse('2026-08-01T10:00:00Z') + i * 1000).toISOString();
    const patient = i % 9 === 0 ? 'p-3' : `p-${10 + (i % 5)}`;
    const line = template
      .replaceAll('"d-1"', `"d-${i}"`)
      .replaceAll('2026-08-01T10:00:01.000Z', time)
      .replaceAll('"p-1"', `"${patient}"`)
      // Lines of different lengths, some longer than the smallest blocks read.
      .replace('"policyVersion":"abc"', `"policyVersion":"${'v'.repeat((i * 37) % 300)}"`);
    lines.push(i % 4 === 1 ? `${line}\r` : line);
    if (patient === 'p-3') selected.push(`d-${i}`);
    if (i % 50 === 7) lines.push(i % 100 === 7 ? '' : '\r');
    const bad = corrupt[i];
    if (bad !== undefined) {
      lines.push(bad);
      badLines.push(lines.length);
    }
  }
  return { text: lines.join('\n'), badLines, selected };
}

describe('blocks: whatever the read size, the same lines, records and line numbers', () => {
  const record = readFileSync(fx('replica-b.jsonl'), 'utf8').split('\n')[0] ?? '';
  const corrupt = {
    3: record.slice(0, 120), // truncated (a torn write)
    150: record.replace('audit/v1', 'audit/v9'), // a tampered frame
    222: '# not an audit record',
    310: `${record.slice(0, 200)}"p-3"]}`, // truncated, ending in }, selected: found when parsed
    399: record.slice(0, 40), // a torn last line without its newline
  };
  test.each([[17], [64], [1000], [4096], [4 << 20]])('blocks of %i bytes', async (blockBytes) => {
    const t = tempDir();
    try {
      const clean = trail();
      const withBad = trail(corrupt);
      const cleanFile = t.write('clean.jsonl', clean.text);
      const badFile = t.write('bad.jsonl', withBad.text);
      const gz = t.write('bad.gz', '');
      writeFileSync(gz, gzipSync(withBad.text));

      const a = await readAll([cleanFile], { needles: ['"p-3"'], blockBytes });
      expect(ids(a.got)).toEqual(clean.selected);
      expect(a.stats).toMatchObject({ recordsRead: 400, linesSkipped: 0 });

      for (const f of [badFile, gz]) {
        const b = await readAll([f], { needles: ['"p-3"'], skipCorrupt: true, blockBytes });
        expect(ids(b.got)).toEqual(withBad.selected);
        expect(b.stats).toMatchObject({ recordsRead: 400, linesSkipped: 5 });
        expect(b.skipped).toEqual([[f, 5, withBad.badLines]]);
        // Without skipCorrupt the first of them stops the read, named by its line.
        await expect(readAll([f], { needles: ['"p-3"'], blockBytes })).rejects.toThrow(
          `${f}:${withBad.badLines[0]}: not a phiguard.audit/v1 record`,
        );
      }
    } finally {
      t.remove();
    }
  });
});

describe('double-buffered reading of plain files: the same as reading the stream sequentially', () => {
  // A plain file is read into two blocks in turn, the next read under way while one is scanned, the line a read
  // cuts in two put together apart; gzip is read sequentially (a stream). Both must give the same.
  const record = readFileSync(fx('replica-b.jsonl'), 'utf8').split('\n')[0] ?? '';
  const lines0 = trail().text.split('\n');
  const long = (i: number, n: number): string =>
    (lines0[i] ?? '').replace(/"policyVersion":"v*"/, `"policyVersion":"${'v'.repeat(n)}"`);
  /** Lines longer than several blocks and than the block set aside for a cut line (it grows), corrupt lines. */
  const corrupt = { 20: record.slice(0, 90), 260: `{"format":"phiguard.audit/v1",${'x'.repeat(100_000)}` };
  function text(): string {
    const lines = trail(corrupt).text.split('\n');
    lines.splice(100, 1, long(100, 80_000));
    lines.splice(101, 1, long(101, 3_000));
    return lines.join('\n');
  }
  const read = async (
    files: string[],
    blockBytes: number,
    needles: string[],
  ): Promise<{ records: unknown[]; stats: ReadStats; skipped: unknown[] }> => {
    const r = await readAll(files, { needles, skipCorrupt: true, blockBytes });
    return {
      records: r.got.map((x) => x.record),
      stats: r.stats,
      skipped: r.skipped.map(([, n, first]) => [n, first]),
    };
  };

  test.each([[61], [333], [4096], [65_536], [1 << 20]])('blocks of %i bytes', async (blockBytes) => {
    const t = tempDir();
    try {
      const body = text();
      const whole = await read([t.write('whole.jsonl', body)], 4 << 20, []);
      // 400 records, the long ones among them; a truncated line and a foreign 100 KB line, at their line numbers.
      expect(whole.stats).toMatchObject({ recordsRead: 400, linesSkipped: 2 });
      expect(whole.skipped).toEqual([[2, trail(corrupt).badLines]]);
      for (const [name, content] of [
        ['trail', body],
        ['terminated', `${body}\n`],
        ['one-line', record],
        ['empty', ''],
        ['newlines', '\n\r\n\n'],
      ] as const) {
        const plain = t.write(`${name}.jsonl`, content);
        const gz = t.write(`${name}.gz`, '');
        writeFileSync(gz, gzipSync(content));
        for (const needles of [[], ['"p-3"'], ['"d-101"', '"d-100"']]) {
          const sequential = await read([gz], blockBytes, needles);
          const doubled = await read([plain], blockBytes, needles);
          expect(doubled.records).toEqual(sequential.records);
          expect(doubled.skipped).toEqual(sequential.skipped);
          expect({ ...doubled.stats, files: [] }).toEqual({ ...sequential.stats, files: [] });
        }
      }
      // Two plain files merged: one file's next read is under way while the other's blocks are scanned.
      const a = t.write('a.jsonl', body);
      const b = t.write('b.jsonl', trail().text.replaceAll('"d-', '"e-'));
      const merged = await read([a, b], blockBytes, []);
      const one = await read([a], blockBytes, []);
      expect(merged.records).toHaveLength(one.records.length + 400);
      expect(merged.skipped).toEqual(one.skipped);
    } finally {
      t.remove();
    }
  });
});
