/**
 * The privacy key: the secret that every patient-derived value phiguard keeps outside the audit trail is keyed with
 * (the `pause` containment context, the envelopes' distinct-patient sketches). It comes from a file, normally a
 * Kubernetes Secret mounted into the pod (`--privacy-key-file` / `PHIGUARD_PRIVACY_KEY_FILE`), and is never written
 * beside the data it keys: without it, a containment file or an envelope cannot be tested against candidate ids.
 *
 * Keyed hashes are HMAC-SHA256 (RFC 2104; NIST FIPS 198-1) under a subkey per purpose, so a value keyed for one file
 * type cannot be matched against another. RFC 2104 §3 recommends a key of at least the hash's output length: 32
 * bytes for SHA-256, the minimum accepted here.
 */
import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { err, ok, PhiguardError, type Result } from '../model/index.js';

/** RFC 2104 §3: a key shorter than the hash output (L = 32 bytes for SHA-256) weakens the MAC. */
export const PRIVACY_KEY_MIN_BYTES = 32;

/** Where the key is configured, for error messages. */
export const PRIVACY_KEY_SETTING = '--privacy-key-file / PHIGUARD_PRIVACY_KEY_FILE';

/** What a keyed hash is for; each purpose has its own subkey. */
export const KEY_PURPOSES = {
  /** A patient id in a `pause` containment state's context window. */
  containmentContext: 'containment-context',
  /** A patient id fed into an envelope's distinct-patient HyperLogLog sketch. */
  envelopePatients: 'envelope-patients',
} as const;
export type KeyPurpose = (typeof KEY_PURPOSES)[keyof typeof KEY_PURPOSES];

export interface PrivacyKey {
  /**
   * A public identifier of the key (16 hex digits of an HMAC of a fixed label): written into containment states so
   * a state keyed with another key is recognised. It reveals nothing about the key.
   */
  readonly id: string;
  /** HMAC-SHA256 of `value` under the purpose's subkey (32 bytes). */
  digest(purpose: KeyPurpose, value: string): Buffer;
}

const hmac = (key: Buffer | string, value: string): Buffer => createHmac('sha256', key).update(value, 'utf8').digest();

/**
 * The key over raw bytes (at least PRIVACY_KEY_MIN_BYTES).
 * @throws PhiguardError `config` when the key is too short.
 */
export function privacyKeyOf(bytes: Buffer): PrivacyKey {
  if (bytes.length < PRIVACY_KEY_MIN_BYTES)
    throw new PhiguardError('config', `a privacy key needs at least ${PRIVACY_KEY_MIN_BYTES} bytes`);
  const master = Buffer.from(bytes);
  const subkeys = new Map<KeyPurpose, Buffer>(
    Object.values(KEY_PURPOSES).map((p) => [p, hmac(master, `phiguard/privacy/${p}/v1`)]),
  );
  return {
    id: hmac(master, 'phiguard/privacy/key-id/v1').toString('hex').slice(0, 16),
    digest: (purpose, value) => hmac(subkeys.get(purpose) ?? master, value),
  };
}

/**
 * Reads the key file: its bytes, less one trailing newline (`echo`, `openssl rand -base64 48 > key` and editors
 * add one; `kubectl create secret --from-file` keeps it).
 * @returns the key, or an `io` / `config` error naming the setting and the file.
 */
export function readPrivacyKey(file: string): Result<PrivacyKey> {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? 'error';
    const why =
      code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    return err(new PhiguardError('io', `privacy key file ${file} (${PRIVACY_KEY_SETTING}) ${why}`, { cause: e }));
  }
  let end = bytes.length;
  if (end > 0 && bytes[end - 1] === 0x0a) end--;
  if (end > 0 && bytes[end - 1] === 0x0d) end--;
  const key = bytes.subarray(0, end);
  if (key.length < PRIVACY_KEY_MIN_BYTES) {
    return err(
      new PhiguardError(
        'config',
        `privacy key file ${file} (${PRIVACY_KEY_SETTING}) holds ${key.length} bytes; at least ` +
          `${PRIVACY_KEY_MIN_BYTES} are needed (e.g. \`openssl rand -base64 48\`)`,
      ),
    );
  }
  return ok(privacyKeyOf(key));
}
