/** Shared by commands: read envelope paths, fail loudly on any unreadable one, merge per workload. */
import { readEnvelopes, type Envelope } from '../../authz/index.js';
import { mergeAll } from '../envelope/index.js';
import { UsageError } from '../read-input.js';

export function loadMergedEnvelopes(paths: readonly string[]): Envelope[] {
  const results = paths.flatMap((p) => {
    try {
      return readEnvelopes(p);
    } catch {
      throw new UsageError(`${p}: cannot read`);
    }
  });
  const bad = results.filter((r) => !r.ok);
  if (bad.length > 0) throw new UsageError(bad.map((b) => (b.ok ? '' : `${b.file}: ${b.error}`)).join('\n'));
  const groups = new Map<string, Envelope[]>();
  for (const r of results) {
    if (!r.ok) continue;
    const k = `${r.envelope.spec.workload.namespace}/${r.envelope.spec.workload.name}`;
    groups.set(k, [...(groups.get(k) ?? []), r.envelope]);
  }
  return [...groups.keys()].sort().map((k) => {
    const m = mergeAll(groups.get(k) ?? []);
    if (!m.ok) throw new UsageError(`${k}: ${m.error}`);
    return m.envelope;
  });
}
