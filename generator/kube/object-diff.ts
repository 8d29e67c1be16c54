/**
 * A readable diff between what is in the cluster and what an apply makes of it: every leaf field added, changed or
 * removed, by its path (`spec.egress[0].toFQDNs[1].matchName`). Like `kubectl diff`, it compares the live object
 * with the server's answer to the apply (a server-side dry run, or the applied object), so fields that other
 * managers own and the API server's defaults appear as they will be, not as phiguard sent them
 * (https://kubernetes.io/docs/reference/using-api/server-side-apply/). Server-maintained metadata
 * (resourceVersion, generation, uid, managedFields, timestamps) and `status` are not compared.
 */
export interface FieldChange {
  op: 'add' | 'change' | 'remove';
  path: string;
  from?: unknown;
  to?: unknown;
}

const SERVER_METADATA = new Set([
  'resourceVersion',
  'generation',
  'uid',
  'managedFields',
  'creationTimestamp',
  'selfLink',
]);

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

function leaves(v: unknown, path: string, out: Map<string, unknown>): void {
  if (isObject(v) && Object.keys(v).length > 0) {
    for (const [k, x] of Object.entries(v)) {
      if (path === 'metadata' && SERVER_METADATA.has(k)) continue;
      if (path === '' && k === 'status') continue;
      leaves(x, path === '' ? k : `${path}.${k}`, out);
    }
  } else if (Array.isArray(v) && v.length > 0) {
    v.forEach((x, i) => leaves(x, `${path}[${i}]`, out));
  } else {
    out.set(path, v);
  }
}

/** The leaf paths of an object with their values (empty objects and lists are leaves). */
export function leafFields(obj: unknown): Map<string, unknown> {
  const out = new Map<string, unknown>();
  if (obj !== undefined) leaves(obj, '', out);
  return out;
}

/** The changes from `live` (undefined: the object does not exist) to `next`, in path order. */
export function diffObjects(live: unknown, next: unknown): FieldChange[] {
  const a = leafFields(live);
  const b = leafFields(next);
  const out: FieldChange[] = [];
  for (const [p, to] of b) {
    if (!a.has(p)) out.push({ op: 'add', path: p, to });
    else if (JSON.stringify(a.get(p)) !== JSON.stringify(to)) out.push({ op: 'change', path: p, from: a.get(p), to });
  }
  for (const [p, from] of a) if (!b.has(p)) out.push({ op: 'remove', path: p, from });
  return out.sort((x, y) => (x.path < y.path ? -1 : x.path > y.path ? 1 : 0));
}

const show = (v: unknown): string => JSON.stringify(v) ?? 'null';

/** `+ path: value`, `~ path: old -> new`, `- path: old`, one per line, indented. */
export function formatChanges(changes: readonly FieldChange[], indent = '    '): string {
  return changes
    .map((c) =>
      c.op === 'add'
        ? `${indent}+ ${c.path}: ${show(c.to)}`
        : c.op === 'change'
          ? `${indent}~ ${c.path}: ${show(c.from)} -> ${show(c.to)}`
          : `${indent}- ${c.path}: ${show(c.from)}`,
    )
    .map((l) => `${l}\n`)
    .join('');
}
