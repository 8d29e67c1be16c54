import { existsSync } from 'node:fs';
import path from 'node:path';

/**
 * `../shared` (Cilium CRDs, upstream examples) exists beside the checkout in CI, not in a user's clone. Tests that
 * need it call this: it returns the path, or undefined after saying loudly that the test is skipped.
 */
export function sharedDir(...parts: string[]): string | undefined {
  const dir = path.resolve('..', 'shared', ...parts);
  if (existsSync(dir)) return dir;
  process.stderr.write(`\n*** SKIPPED: ${dir} is not present (it ships beside the checkout in CI, not in a clone) ***\n\n`);
  return undefined;
}
