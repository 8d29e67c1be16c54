/**
 * A finding: one located problem in an input (a policy file, a manifest, a generated policy, a config file), from
 * whichever module checked it. Each module owns the closed set of codes it emits; this type is shared so that
 * findings from every checker can be collected, sorted, formatted and sent between threads alike.
 */
import { z } from 'zod';

export const FINDING_SEVERITIES = ['error', 'warning', 'info'] as const;
export type FindingSeverity = (typeof FINDING_SEVERITIES)[number];

/**
 * A located problem. `C` is the emitting module's code union (`Finding<PolicyFindingCode>`); code that only
 * collects or prints findings uses the default, `string`.
 */
export interface Finding<C extends string = string> {
  code: C;
  severity: FindingSeverity;
  /** The input file; '' when the input did not come from a file (an in-memory document, merged envelopes). */
  file: string;
  /** 1-based line in `file`, when known. */
  line?: number | undefined;
  /** 0-based YAML document index in `file`, for multi-document inputs. */
  document?: number | undefined;
  /**
   * Where in the document, in the notation of the checked format: dotted (`spec.rules[0].allow`) for phiguard's
   * YAML and Envoy's protos, JSON Pointer (`/spec/egress/0`) for Kubernetes CRD schemas; '' for the whole input.
   */
  path: string;
  message: string;
  /** The workload a generated-policy finding is about (`namespace/name`). */
  workload?: string | undefined;
  /** What was observed (counts, hosts, ports; never PHI), for generator findings. */
  evidence?: Record<string, unknown> | undefined;
}

/** A finding as data (thread messages, JSON files): codes are open here, each module narrows its own. */
export const FindingSchema = z.object({
  code: z.string(),
  severity: z.enum(FINDING_SEVERITIES),
  file: z.string(),
  line: z.number().int().optional(),
  document: z.number().int().optional(),
  path: z.string(),
  message: z.string(),
  workload: z.string().optional(),
  evidence: z.record(z.string(), z.unknown()).optional(),
});

/** `['spec', 'rules', 0, 'allow']` -> `spec.rules[0].allow` (symbols, which no config format has, are dropped). */
export function formatFieldPath(parts: readonly PropertyKey[]): string {
  let out = '';
  for (const k of parts) {
    if (typeof k === 'number') out += `[${k}]`;
    else if (typeof k === 'string') out += out === '' ? k : `.${k}`;
  }
  return out;
}

/** Whether any finding is an error (warnings and info never reject an input). */
export function hasErrors(findings: readonly Finding[]): boolean {
  return findings.some((f) => f.severity === 'error');
}

/**
 * One line: `error cel-compile-error at policies/scribe.yaml:14 spec.rules[0].allow: <message>`. The location is
 * `file:line` when the line is known, else `file#document` (or the file alone), then the workload and field path.
 */
export function formatFinding(f: Finding): string {
  const file =
    f.line !== undefined ? `${f.file}:${f.line}` : f.document !== undefined ? `${f.file}#${f.document}` : f.file;
  const where = [f.file === '' ? '' : file, f.workload ?? '', f.path].filter((s) => s !== '').join(' ');
  return `${f.severity} ${f.code}${where === '' ? '' : ` at ${where}`}: ${f.message}`;
}
