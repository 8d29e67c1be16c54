/** Reading and writing envelope files (YAML or JSON), validated, with the summary recomputed on write. */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import yaml from 'js-yaml';
import { EnvelopeSchema, type Envelope } from './envelope.js';
import { summarize } from './summary.js';

export type ReadResult = { ok: true; envelope: Envelope; file: string } | { ok: false; file: string; error: string };

export function parseEnvelope(text: string, file: string): ReadResult {
  let doc: unknown;
  try {
    doc = yaml.load(text, { filename: file, schema: yaml.CORE_SCHEMA });
  } catch (e) {
    return { ok: false, file, error: e instanceof yaml.YAMLException ? `YAML: ${e.reason} (line ${e.mark.line + 1})` : 'unreadable YAML' };
  }
  const r = EnvelopeSchema.safeParse(doc);
  if (!r.success) return { ok: false, file, error: r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ') };
  return { ok: true, envelope: r.data, file };
}

export function readEnvelopeFile(file: string): ReadResult {
  try {
    return parseEnvelope(readFileSync(file, 'utf8'), file);
  } catch (e) {
    return { ok: false, file, error: `cannot read (${(e as NodeJS.ErrnoException).code ?? 'error'})` };
  }
}

/** Reads every *.yaml / *.yml / *.json envelope under a path (file or directory, non-recursive), sorted. */
export function readEnvelopes(p: string): ReadResult[] {
  const files = statSync(p).isDirectory()
    ? readdirSync(p).filter((f) => /\.(ya?ml|json)$/.test(f) && !f.startsWith('.')).sort().map((f) => path.join(p, f))
    : [p];
  return files.map(readEnvelopeFile);
}

/** Deterministic YAML: stable key order, summary recomputed. */
export function serializeEnvelope(e: Envelope): string {
  const doc = { apiVersion: e.apiVersion, kind: e.kind, metadata: e.metadata, spec: e.spec, summary: summarize(e) };
  return yaml.dump(doc, { lineWidth: 160, noRefs: true, sortKeys: false });
}

export function envelopeFileName(e: Envelope, suffix = ''): string {
  return `${e.spec.workload.namespace}.${e.spec.workload.name}${suffix}.envelope.yaml`;
}
