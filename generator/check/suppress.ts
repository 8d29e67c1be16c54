/**
 * Accepting a finding, with a reason: an annotation on the object (`phiguard.io/suppress: "CIL004: reason"`) or an
 * entry in a baseline file (`--baseline FILE`), as kube-linter's `ignore-check.kube-linter.io/<check>` annotation
 * and kubescape's exceptions do. A suppressed finding is still reported (marked suppressed, with its justification);
 * it only stops counting toward `--fail-on`. A suppression without a reason, or naming no rule, is itself a finding
 * (PHG005) and suppresses nothing.
 */
import path from 'node:path';
import { z } from 'zod';
import { readYamlFile } from '../../authz/config/index.js';
import type { Finding, Result } from '../../authz/model/index.js';
import { RULE_BY_ID, type RuleId } from './catalog.js';
import { isObj, str, strMap } from './context.js';
import type { ManifestDoc } from './manifests.js';

/** The annotation that suppresses findings on the object that carries it. */
export const SUPPRESS_ANNOTATION = 'phiguard.io/suppress';

export interface Suppression {
  /** `annotation` (on the object, SARIF kind inSource) or `baseline` (a file, SARIF kind external). */
  kind: 'annotation' | 'baseline';
  justification: string;
  /** Where the suppression is written: `file:line` of the annotation or baseline entry. */
  source: string;
}

/** A check finding: the rule's finding, the object it is about, and its suppression if one applies. */
export interface CheckFinding extends Finding<RuleId> {
  /** `Kind/namespace/name` (`Kind/name` without a namespace) of the Kubernetes object, when the finding is on one. */
  object?: string | undefined;
  suppression?: Suppression | undefined;
}

/** The identity a baseline entry names: `Kind/namespace/name`, or `Kind/name` for an object without a namespace. */
export function objectId(doc: ManifestDoc): string | undefined {
  const kind = str(doc.value['kind']);
  const meta = isObj(doc.value['metadata']) ? doc.value['metadata'] : undefined;
  const name = str(meta?.['name']);
  if (!kind || !name) return undefined;
  const ns = str(meta?.['namespace']);
  return ns ? `${kind}/${ns}/${name}` : `${kind}/${name}`;
}

interface AnnotationEntry {
  rules: Set<string>;
  reason: string;
}

/**
 * The suppressions an object's annotation holds: one entry per line, each `RULE[,RULE]: reason`.
 * Entries without a reason or with an unknown rule are reported through `problem` and not returned.
 */
export function parseSuppressAnnotation(value: string, problem: (message: string) => void): AnnotationEntry[] {
  const out: AnnotationEntry[] = [];
  for (const raw of value.split('\n')) {
    const entry = raw.trim();
    if (!entry) continue;
    const colon = entry.indexOf(':');
    const ids = (colon === -1 ? entry : entry.slice(0, colon))
      .split(',')
      .map((x) => x.trim().toUpperCase())
      .filter(Boolean);
    const reason = colon === -1 ? '' : entry.slice(colon + 1).trim();
    const unknown = ids.filter((id) => !RULE_BY_ID.has(id) || id === 'PHG005');
    if (ids.length === 0 || unknown.length > 0) {
      problem(
        `${SUPPRESS_ANNOTATION} entry "${entry}" names ${ids.length === 0 ? 'no rule' : `no suppressible rule: ${unknown.join(', ')}`}`,
      );
      continue;
    }
    if (!reason) {
      problem(`${SUPPRESS_ANNOTATION} entry "${entry}" has no reason (write "${ids.join(',')}: why it is accepted")`);
      continue;
    }
    out.push({ rules: new Set(ids), reason });
  }
  return out;
}

const BaselineEntrySchema = z
  .object({
    rule: z.string().refine((id) => RULE_BY_ID.has(id) && id !== 'PHG005', { message: 'not a suppressible rule id' }),
    /** The file the finding is in, as given to `phiguard check` (relative to the working directory). */
    file: z.string().min(1).optional(),
    /** The object the finding is about: `Kind/namespace/name` or `Kind/name`. */
    object: z.string().min(1).optional(),
    /** Why the finding is accepted (required). */
    reason: z.string().trim().min(1, 'a reason is required'),
  })
  .strict()
  .refine((e) => e.file !== undefined || e.object !== undefined, { message: 'name a file, an object, or both' });

export const BaselineSchema = z
  .object({
    apiVersion: z.literal('phiguard.io/v1alpha1'),
    kind: z.literal('CheckBaseline'),
    suppressions: z.array(BaselineEntrySchema),
  })
  .strict();
export type Baseline = z.infer<typeof BaselineSchema>;

/** Reads and validates a baseline file; an invalid one is an error (the run exits 2). */
export function readBaseline(file: string): Result<Baseline> {
  return readYamlFile(file, BaselineSchema, 'config');
}

const samePath = (a: string, b: string): boolean => path.resolve(a) === path.resolve(b);

/**
 * Marks the findings that an annotation on their object or a baseline entry accepts. Returns the findings (with
 * PHG005 for malformed annotations added) and a note for every baseline entry that matched nothing.
 */
export function applySuppressions(
  findings: readonly CheckFinding[],
  docs: readonly ManifestDoc[],
  baseline: { file: string; value: Baseline } | undefined,
  report: (doc: ManifestDoc, message: string) => CheckFinding,
): { findings: CheckFinding[]; notes: string[] } {
  const byDoc = new Map<string, Array<AnnotationEntry & { source: string }>>();
  const added: CheckFinding[] = [];
  for (const doc of docs) {
    const meta = isObj(doc.value['metadata']) ? doc.value['metadata'] : undefined;
    const value = strMap(meta?.['annotations'])[SUPPRESS_ANNOTATION];
    if (value === undefined) continue;
    const source = `${doc.file}:${doc.lineOf(['metadata', 'annotations', SUPPRESS_ANNOTATION])}`;
    const entries = parseSuppressAnnotation(value, (message) => added.push(report(doc, message)));
    byDoc.set(
      `${doc.file}\0${doc.index}`,
      entries.map((e) => ({ ...e, source })),
    );
  }
  const used = new Set<number>();
  const out = [...findings, ...added].map((f): CheckFinding => {
    if (f.code === 'PHG005') return f;
    const annotation = byDoc.get(`${f.file}\0${f.document ?? -1}`)?.find((e) => e.rules.has(f.code));
    if (annotation)
      return { ...f, suppression: { kind: 'annotation', justification: annotation.reason, source: annotation.source } };
    const i = (baseline?.value.suppressions ?? []).findIndex(
      (e) =>
        e.rule === f.code &&
        (e.file === undefined || samePath(e.file, f.file)) &&
        (e.object === undefined || e.object === f.object),
    );
    const entry = baseline?.value.suppressions[i];
    if (!baseline || !entry) return f;
    used.add(i);
    return {
      ...f,
      suppression: { kind: 'baseline', justification: entry.reason, source: `${baseline.file} suppressions[${i}]` },
    };
  });
  const notes = (baseline?.value.suppressions ?? []).flatMap((e, i) =>
    used.has(i)
      ? []
      : [`${baseline?.file ?? ''} suppressions[${i}] (${e.rule} ${e.object ?? e.file ?? ''}) matched no finding`],
  );
  return { findings: out, notes };
}
