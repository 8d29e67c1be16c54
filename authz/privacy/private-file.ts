/**
 * Files phiguard writes beside its data (containment states, envelopes) are readable by their owner only: created
 * 0600 whatever the process umask, and replaced by rename so a reader never sees half a file. Directories phiguard
 * creates are 0700. On a shared volume every replica runs as the same user (docs/privacy.md, "Shared volumes").
 */
import { closeSync, fchmodSync, mkdirSync, openSync, renameSync, rmSync, writeSync } from 'node:fs';
import { randomBytes } from 'node:crypto';

/** Owner read/write only. */
export const PRIVATE_FILE_MODE = 0o600;
/** Owner only. */
export const PRIVATE_DIR_MODE = 0o700;

/**
 * Writes `data` to `file` atomically, mode 0600: a temporary file beside it (unique per writer, so two replicas
 * writing the same name never share one), opened with mode 0600 and `fchmod`ed to 0600 (the open mode is masked by
 * the umask; fchmod is not), then renamed over `file`.
 * @throws the errno error of the failing step (the temporary file is removed).
 */
export function writePrivateFile(file: string, data: string): void {
  const tmp = `${file}.${process.pid}.${randomBytes(6).toString('hex')}.tmp`;
  const fd = openSync(tmp, 'wx', PRIVATE_FILE_MODE);
  try {
    try {
      fchmodSync(fd, PRIVATE_FILE_MODE);
      const b = Buffer.from(data, 'utf8');
      for (let off = 0; off < b.length;) off += writeSync(fd, b, off, b.length - off);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, file);
  } catch (e) {
    rmSync(tmp, { force: true });
    throw e;
  }
}

/** Creates a directory (and its parents) 0700 when missing; an existing directory keeps its mode and owner. */
export function ensurePrivateDir(dir: string): void {
  mkdirSync(dir, { recursive: true, mode: PRIVATE_DIR_MODE });
}
