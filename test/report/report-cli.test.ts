/**
 * The report entry (generator/commands/report-cli.ts, what bin/phiguard.js runs for `report`): exit codes as the
 * full CLI maps them, and an error nothing maps written as its stack with exit 1.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, jest, test } from '@jest/globals';
import { main } from '../../generator/commands/report-cli.js';

const FIX = path.join(path.dirname(fileURLToPath(import.meta.url)), 'fixtures');

async function run(args: string[], failWrites = false): Promise<{ code: number; err: string }> {
  let err = '';
  jest.spyOn(process.stdout, 'write').mockImplementation(() => {
    if (failWrites) throw new TypeError('stdout is gone');
    return true;
  });
  jest.spyOn(process.stderr, 'write').mockImplementation((c: string | Uint8Array) => ((err += String(c)), true));
  process.exitCode = undefined;
  return { code: await main(['node', 'phiguard', 'report', ...args]), err };
}

afterEach(() => {
  jest.restoreAllMocks();
  process.exitCode = undefined;
});

describe('phiguard report entry', () => {
  test.each<[string, string[], number, RegExp]>([
    ['a report', ['aibom', path.join(FIX, 'replica-a.jsonl')], 0, /^$/],
    ['a corrupt line: exit 2', ['aibom', path.join(FIX, 'mixed.jsonl')], 2, /mixed\.jsonl:3: not a phiguard/],
    ['an unknown report: exit 2', ['nope', path.join(FIX, 'mixed.jsonl')], 2, /unknown command 'nope'/],
  ])('%s', async (_name, args, code, err) => {
    const r = await run(args);
    expect(r.code).toBe(code);
    expect(r.err).toMatch(err);
  });

  test('an error nothing maps is written as its stack, exit 1', async () => {
    const r = await run(['aibom', path.join(FIX, 'replica-a.jsonl')], true);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/^TypeError: stdout is gone\n\s+at /);
  });
});
