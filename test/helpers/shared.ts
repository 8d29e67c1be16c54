import { existsSync } from 'node:fs';
import path from 'node:path';
import { test } from '@jest/globals';

/** Where `../shared` is looked for: beside the checkout (CI has it there; a user's clone has none). */
const SHARED_ROOT = path.resolve('..', 'shared');

/**
 * `../shared` (Cilium CRDs, upstream examples) exists beside the checkout in CI, not in a user's clone. Tests that
 * need it call this: it returns the path, or undefined after saying loudly that what needs it is skipped.
 */
export function sharedDir(...parts: string[]): string | undefined {
  const dir = path.join(SHARED_ROOT, ...parts);
  if (existsSync(dir)) return dir;
  process.stderr.write(
    `\n*** SKIPPED ***: ${dir} is not present (it ships beside the checkout in CI, not in a clone)\n\n`,
  );
  return undefined;
}

/**
 * `test` when the shared folder `dir` (from sharedDir) is present; otherwise `test.skip`, chosen when the tests are
 * defined so jest reports them as skipped (never as passed), after one loud line naming what is skipped.
 */
export function testWhenShared(dir: string | undefined, what: string): typeof test.skip {
  if (dir !== undefined) return test;
  process.stderr.write(`\n*** SKIPPED ***: ${what}: needs ${SHARED_ROOT}, which is not present\n\n`);
  return test.skip;
}
