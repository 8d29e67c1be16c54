/** Shared by commands: read envelope paths, fail loudly on any unreadable one, merge per workload. */
import { readEnvelopes, type Envelope } from '../../authz/observe/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import { mergeAll } from '../envelope/index.js';

/**
 * Every envelope under `paths`, merged per workload. Throws a PhiguardError listing every unreadable or invalid
 * envelope.
 */
export function loadMergedEnvelopes(paths: readonly string[]): Envelope[] {
  const results = paths.flatMap((p) => readEnvelopes(p));
  const errors = results.flatMap((r) => (r.ok ? [] : [r.error]));
  if (errors.length > 0) {
    throw new PhiguardError(errors[0]?.code ?? 'data', errors.map((e) => e.message).join('\n'), {
      cause: errors[0],
      findings: errors.flatMap((e) => e.findings),
    });
  }
  const groups = new Map<string, Envelope[]>();
  for (const r of results) {
    if (!r.ok) continue;
    const { envelope } = r.value;
    const k = `${envelope.spec.workload.namespace}/${envelope.spec.workload.name}`;
    groups.set(k, [...(groups.get(k) ?? []), envelope]);
  }
  return [...groups.keys()].sort().map((k) => {
    const m = mergeAll(groups.get(k) ?? []);
    if (!m.ok) throw new PhiguardError('data', `${k}: ${m.error.message}`, { cause: m.error });
    return m.value;
  });
}
