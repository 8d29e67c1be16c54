/** Waiting for a benchmark's child process (a server, a load client) to say something on its output. */
import type { ChildProcess } from 'node:child_process';

/**
 * The first match of `re` in what `child` writes to `stream` (its output so far, accumulated); rejects after
 * `timeoutMs` with what it wrote.
 */
export function waitLine(
  child: ChildProcess,
  re: RegExp,
  stream: 'stdout' | 'stderr' = 'stdout',
  timeoutMs = 20_000,
): Promise<RegExpMatchArray> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const t = setTimeout(() => reject(new Error(`timed out waiting for ${String(re)}: ${buf}`)), timeoutMs);
    child[stream]?.on('data', (d: Buffer) => {
      buf += d.toString();
      const m = buf.match(re);
      if (m) {
        clearTimeout(t);
        resolve(m);
      }
    });
  });
}
