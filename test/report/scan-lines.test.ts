/**
 * The reports' line scan (generator/report/scan-lines.ts, scan-lines.wat): against a reference written the plain
 * way (split at newlines, compare the frame, `includes` each needle) on named cases and on generated blocks, its
 * output limit, its refusals, and the embedded module against the .wat assembled again.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, test } from '@jest/globals';
import { SCAN_LINES_WASM } from '../../generator/report/scan-lines-wasm.js';
import { FRAME, createLineScanner, probesOf, type ScannedLine } from '../../generator/report/scan-lines.js';
import { tempDir } from '../helpers/temp.js';

const REC = (body: string): string => `${FRAME},${body}}`;

interface Scanned {
  lines: number;
  empty: number;
  reported: Array<[number, number, boolean]>;
}

/** The reference: every line of `text` (ending with a newline) the plain way. */
function reference(text: string, needles: readonly string[]): Scanned {
  const b = Buffer.from(text, 'latin1');
  const reported: Array<[number, number, boolean]> = [];
  let empty = 0;
  let index = 0;
  for (let s = 0; s < b.length; index++) {
    const e = b.indexOf(0x0a, s);
    const line = b.subarray(s, e);
    if (line.length === 0 || (line.length === 1 && line[0] === 0x0d)) empty++;
    else {
      const body = line[line.length - 1] === 0x0d ? line.subarray(0, -1) : line;
      const framed =
        body.length > FRAME.length &&
        body[body.length - 1] === 0x7d &&
        body.subarray(0, FRAME.length).equals(Buffer.from(FRAME));
      const selected = needles.length === 0 || needles.some((n) => line.includes(Buffer.from(n, 'latin1')));
      if (!framed || selected) reported.push([index, s, framed]);
    }
    s = e + 1;
  }
  return { lines: index, empty, reported };
}

function scanned(text: string, needles: readonly string[]): Scanned {
  const s = createLineScanner(
    needles.map((n) => Buffer.from(n, 'latin1')),
    64,
  );
  const b = Buffer.from(text, 'latin1');
  s.reserve(b.length);
  b.copy(s.block);
  // Garbage after the block: the scan's loads run past its end and must ignore what they find there.
  s.block.fill('"covered":false\n', b.length);
  const reported: Array<[number, number, boolean]> = [];
  const { lines, empty } = s.scan(b.length, (l: ScannedLine) => {
    expect(s.block[l.end]).toBe(0x0a);
    reported.push([l.index, l.start, l.framed]);
  });
  return { lines, empty, reported };
}

const NEEDLES = ['"p-012345"', '"patientsUnresolved":["'];
const LONG = '"type":"break-glass-attestation","class":';
const WITH_P = REC('"type":"decision","patients":["p-012345"]');
const PLAIN = REC('"type":"decision","patients":["p-000001"]');

describe('the line scan finds what the plain reading finds', () => {
  test.each<[string, string, string[]]>([
    ['one selected record', `${WITH_P}\n`, NEEDLES],
    ['one record not selected', `${PLAIN}\n`, NEEDLES],
    ['no needles select every record', `${PLAIN}\n${WITH_P}\n`, []],
    ['CRLF line ends', `${WITH_P}\r\n${PLAIN}\r\n`, NEEDLES],
    ['empty lines and a lone carriage return', `\n${PLAIN}\n\r\n\n${WITH_P}\n`, NEEDLES],
    ['a truncated line (no closing brace)', `${PLAIN}\n${PLAIN.slice(0, 60)}\n${PLAIN}\n`, NEEDLES],
    ['a truncated line ending in }, selected', `${WITH_P.slice(0, 80)}"]}\n`, NEEDLES],
    ['a tampered frame', `${PLAIN.replace('audit/v1', 'audit/v2')}\n`, NEEDLES],
    ['a frame cut after 28 bytes', `${FRAME.slice(0, 28)}}\n`, NEEDLES],
    ['exactly the frame and }', `${FRAME}}\n`, NEEDLES],
    ['a foreign line', '# phiguard README\n', NEEDLES],
    ['a line of one byte', '}\n', NEEDLES],
    ['two carriage returns', `${PLAIN}\r\r\n`, NEEDLES],
    ['a needle at the very end of a line', `${FRAME},"x":"p-012345"}\n`, ['"p-012345"}']],
    ['a needle only in the bytes after the block is not found', `${PLAIN}\n`, ['"covered":false']],
    ['a needle split by a line end is not a match', `${FRAME},"a":"p-01}\n${FRAME},2345"}\n`, ['"p-012345"']],
    ['four needles', `${WITH_P}\n${REC('"egress":{"covered":false}')}\n${PLAIN}\n`, [...NEEDLES, '"egress":{', 'v1']],
    ['a one-byte needle', `${PLAIN}\n${REC('"x":"Z"')}\n`, ['Z']],
    ['a line differing from a needle in its last byte', `${REC('"patientsUnresolved":[]')}\n`, NEEDLES],
    [
      'needles of 15, 16 and 17 bytes',
      `${REC('"a":"0123456789abcdef"')}\n`,
      ['0123456789abcde', '"0123456789abcde', '"0123456789abcdef'],
    ],
    [
      'a needle of 40 bytes, and a line differing from it in one middle byte',
      `${REC(`"x":"${LONG}"`)}\n${REC(`"x":"${LONG.slice(0, 20)}#${LONG.slice(21)}"`)}\n`,
      [LONG],
    ],
  ])('%s', (_name, text, needles) => {
    expect(scanned(text, needles)).toEqual(reference(text, needles));
  });

  test('generated blocks: needles at every offset of the 16- and 64-byte steps, lines of every length', () => {
    let seed = 7;
    const rand = (n: number): number => (seed = (seed * 1103515245 + 12345) % 2147483648) % n;
    const pieces = [
      '"p-012345"',
      '"p-01234"',
      '"patientsUnresolved":["',
      '"patientsUnresolved":[]',
      '"egress":{',
      LONG,
      LONG.replace('attestation', 'attestatioN'),
      'x',
      '"',
      '\r',
      '}',
      'é',
      // A NUL byte: the 64-byte skip's candidate for an unused needle (zero probes).
      '\u0000',
    ];
    for (let round = 0; round < 200; round++) {
      const lines: string[] = [];
      for (let i = 0, n = rand(40); i < n; i++) {
        const kind = rand(10);
        let body = '';
        for (let j = 0, m = rand(12); j < m; j++)
          body += pieces[rand(pieces.length)] + 'a'.repeat(rand(4) === 0 ? rand(200) : rand(17));
        if (kind === 0) lines.push('');
        else if (kind === 1) lines.push(body);
        else if (kind === 2) lines.push(`${FRAME}${body}`);
        else lines.push(`${FRAME}${body}}${rand(4) === 0 ? '\r' : ''}`);
      }
      const text = lines.map((l) => `${l}\n`).join('');
      const needles = NEEDLES.slice(0, rand(3))
        .concat(rand(2) === 0 ? ['"egress":{'] : [])
        .concat(rand(2) === 0 ? [LONG] : []);
      expect(scanned(text, needles)).toEqual(reference(text, needles));
    }
  });

  test('more reported lines than the output holds are all reported, in order', () => {
    const text = `${PLAIN}\n`.repeat(10_000);
    const got = scanned(text, []);
    expect(got.lines).toBe(10_000);
    expect(got.reported.map((r) => r[0])).toEqual([...Array(10_000).keys()]);
  });
});

describe('the scanner refuses what it cannot scan', () => {
  test.each<[string, () => unknown]>([
    ['five needles', () => createLineScanner(['a', 'b', 'c', 'd', 'e'].map((n) => Buffer.from(n)))],
    ['an empty needle', () => createLineScanner([Buffer.alloc(0)])],
    ['a needle with a newline', () => createLineScanner([Buffer.from('a\nb')])],
    ['a needle of 65 bytes', () => createLineScanner([Buffer.alloc(65, 0x61)])],
    [
      'a block not ending with a newline',
      () => {
        const s = createLineScanner([]);
        s.block.write(`${PLAIN}`);
        return s.scan(PLAIN.length, () => undefined);
      },
    ],
  ])('%s', (_name, f) => {
    expect(f).toThrow(RangeError);
  });
});

describe('probes', () => {
  test.each<[string, [number, number]]>([
    // The rarest bytes of each needle in a typical line: few false candidates (measured on the benchmark's file:
    // under 0.2 a line for these, where the commonest bytes would give 2.3 a line for aibom-first-contact).
    ['"egress":{', [9, 2]],
    ['"p-012345"', [8, 6]],
    ['"type":"aibom-first-contact"', [2, 12]],
    ['"covered":false', [3, 10]],
    ['"type":"break-glass-attestation"', [12, 14]],
    ['Z', [0, 0]],
  ])('%s', (needle, probes) => {
    expect(probesOf(Buffer.from(needle))).toEqual(probes);
  });
});

describe('the embedded module is scan-lines.wat assembled', () => {
  const wasmAs = path.resolve('node_modules/.bin/wasm-as');
  test('wasm-as --enable-simd gives the same bytes', () => {
    expect(existsSync(wasmAs)).toBe(true);
    const t = tempDir();
    try {
      const out = path.join(t.dir, 'scan-lines.wasm');
      const r = spawnSync(wasmAs, ['--enable-simd', 'generator/report/scan-lines.wat', '-o', out], {
        encoding: 'utf8',
      });
      expect(r.stderr).toBe('');
      expect(readFileSync(out).toString('base64')).toBe(SCAN_LINES_WASM);
    } finally {
      t.remove();
    }
  });
});
