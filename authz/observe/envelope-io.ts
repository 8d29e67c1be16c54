/** Reading and writing envelope files (YAML or JSON), validated, with the summary recomputed on write. */
import { readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { readTextFile, readYamlDocument, toYaml } from '../config/index.js';
import { err, ok, PhiguardError, type Result } from '../model/index.js';
import { EnvelopeSchema, type Envelope } from './envelope.js';
import { summarize } from './summary.js';

/** An envelope and the file it was read from. */
export interface EnvelopeFile {
  envelope: Envelope;
  file: string;
}

/** Validates an envelope text (YAML or JSON): the envelope, or a `data` error naming file, line and field. */
export function parseEnvelope(text: string, file: string): Result<Envelope> {
  return readYamlDocument(text, file, EnvelopeSchema, 'data');
}

/** Reads and validates one envelope file. */
export function readEnvelope(file: string): Result<EnvelopeFile> {
  const text = readTextFile(file);
  if (!text.ok) return text;
  const envelope = parseEnvelope(text.value, file);
  return envelope.ok ? ok({ envelope: envelope.value, file }) : envelope;
}

/** An envelope file's name (envelopeFileName writes them so): other files in an envelope directory are not read. */
export const ENVELOPE_FILE = /\.envelope\.(ya?ml|json)$/;

/**
 * Reads the envelopes under a path: the file itself, or every `*.envelope.yaml` / `.yml` / `.json` in a directory
 * (non-recursive, sorted; a README or a policy beside them is not an envelope). One result per file, or one `io`
 * error if the path itself cannot be read.
 */
export function readEnvelopes(p: string): Result<EnvelopeFile>[] {
  let files: string[];
  try {
    files = statSync(p).isDirectory()
      ? readdirSync(p)
          .filter((f) => ENVELOPE_FILE.test(f) && !f.startsWith('.'))
          .sort()
          .map((f) => path.join(p, f))
      : [p];
  } catch (e) {
    return [
      err(new PhiguardError('io', `${p}: cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})`, { cause: e })),
    ];
  }
  return files.map(readEnvelope);
}

/** Deterministic YAML: stable key order, summary recomputed. */
export function serializeEnvelope(e: Envelope): string {
  const doc = { apiVersion: e.apiVersion, kind: e.kind, metadata: e.metadata, spec: e.spec, summary: summarize(e) };
  return toYaml(doc, 160);
}

export function envelopeFileName(e: Envelope, suffix = ''): string {
  return `${e.spec.workload.namespace}.${e.spec.workload.name}${suffix}.envelope.yaml`;
}
