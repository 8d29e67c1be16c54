/**
 * `phiguard serve` as a child process (from the TypeScript sources, through tsx's loader): for what only a real
 * process shows, such as SIGKILL and SIGHUP.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const ENTRY = path.join(here, 'phiguard-entry.ts');

export interface ServeProcess {
  child: ChildProcess;
  /** host:port of the gRPC listener. */
  address: string;
  /** Resolves with the exit code, or the signal that ended it. */
  exited: Promise<number | NodeJS.Signals>;
  /** What it wrote to stderr so far. */
  stderr(): string;
}

/** Starts `phiguard serve ARGS --port 0 --metrics-port 0` and resolves once it listens. */
export async function startServeProcess(args: readonly string[], timeoutMs = 90_000): Promise<ServeProcess> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', ENTRY, 'serve', '--host', '127.0.0.1', '--port', '0', '--metrics-port', '0', ...args],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let err = '';
  const exited = new Promise<number | NodeJS.Signals>((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code ?? -1)),
  );
  const address = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${err}`)), timeoutMs);
    child.stderr?.on('data', (d: Buffer) => {
      err += d.toString();
      const m = /listening on (\S+:\d+)/.exec(err);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited (${String(code)}) before it listened: ${err}`));
    });
  });
  return { child, address, exited, stderr: () => err };
}
