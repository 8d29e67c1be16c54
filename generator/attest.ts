/**
 * Minimum-necessary attestation (45 CFR §164.502(b)): the FHIR scope an agent was provisioned for (its policy's
 * `spec.scope`) against the scope it actually exercised (its envelope). Provisioned-but-unused access is the
 * evidence that scope can shrink; observed-outside-declared access is the evidence something is wrong.
 */
import type { AgentPolicy, Envelope } from '../authz/index.js';

export interface ScopeItem {
  resourceType: string;
  interaction: string;
  operation: string;
}

export interface AgentAttestation {
  agent: string;
  workload: string;
  window: { start: string; end: string; requests: number } | undefined;
  declared: number;
  exercised: Array<ScopeItem & { count: number }>;
  unused: ScopeItem[];
  outside: Array<ScopeItem & { count: number }>;
  /** Share of declared scope items exercised (0..1); 0 when nothing is declared. */
  exercisedShare: number;
  status: 'ok' | 'over-provisioned' | 'outside-declared-scope' | 'no-envelope';
}

const key = (s: ScopeItem): string => `${s.resourceType}|${s.interaction}|${s.operation}`;

export function declaredScope(p: AgentPolicy): ScopeItem[] {
  const out = new Map<string, ScopeItem>();
  for (const e of p.spec.scope) {
    for (const resourceType of e.resourceTypes) {
      for (const interaction of e.interactions) {
        if (interaction === 'operation') {
          for (const operation of e.operations.length > 0 ? e.operations : [''])
            out.set(key({ resourceType, interaction, operation }), { resourceType, interaction, operation });
        } else {
          out.set(key({ resourceType, interaction, operation: '' }), { resourceType, interaction, operation: '' });
        }
      }
    }
  }
  return [...out.values()].sort((a, b) => (key(a) < key(b) ? -1 : 1));
}

/** Observed scope; a transaction's own row (no resource type) is represented by its entries. */
function observedScope(e: Envelope): Map<string, ScopeItem & { count: number }> {
  const out = new Map<string, ScopeItem & { count: number }>();
  for (const f of e.spec.fhir) {
    const item = { resourceType: f.resourceType, interaction: f.interaction, operation: f.operation, count: f.count };
    if (item.resourceType === '' && (item.interaction === 'transaction' || item.interaction === 'batch')) {
      // Bundles are scoped by their entries; declare them as "transaction" on the entry types.
      continue;
    }
    const k = key(item);
    const prev = out.get(k);
    out.set(k, prev ? { ...prev, count: prev.count + item.count } : item);
  }
  return out;
}

export function attest(policy: AgentPolicy, envelope: Envelope | undefined): AgentAttestation {
  const declared = declaredScope(policy);
  const declaredKeys = new Set(declared.map(key));
  // A declared "transaction" on a type counts entries of that type written through transactions.
  const txTypes = new Set(declared.filter((d) => d.interaction === 'transaction').map((d) => d.resourceType));
  const workload = `${policy.spec.workload?.namespace ?? policy.spec.selector.namespace ?? ''}/${policy.spec.workload?.name ?? policy.metadata.name}`;
  if (!envelope) {
    return {
      agent: policy.metadata.name,
      workload,
      window: undefined,
      declared: declared.length,
      exercised: [],
      unused: declared,
      outside: [],
      exercisedShare: 0,
      status: 'no-envelope',
    };
  }
  const observed = observedScope(envelope);
  const hasTx = envelope.spec.fhir.some((f) => f.resourceType === '' && f.interaction === 'transaction');
  const exercised: AgentAttestation['exercised'] = [];
  const outside: AgentAttestation['outside'] = [];
  const usedDeclared = new Set<string>();
  for (const [k, o] of [...observed].sort(([a], [b]) => (a < b ? -1 : 1))) {
    // Writes of a type inside transactions exercise a declared `transaction` scope on that type.
    const viaTx = hasTx && txTypes.has(o.resourceType) && (o.interaction === 'create' || o.interaction === 'update');
    if (viaTx) usedDeclared.add(key({ resourceType: o.resourceType, interaction: 'transaction', operation: '' }));
    if (declaredKeys.has(k)) {
      exercised.push(o);
      usedDeclared.add(k);
    } else if (viaTx) {
      exercised.push({ ...o, interaction: 'transaction' });
    } else {
      outside.push(o);
    }
  }
  const unused = declared.filter((d) => !usedDeclared.has(key(d)));
  const share = declared.length === 0 ? 0 : usedDeclared.size / declared.length;
  const status = outside.length > 0 ? 'outside-declared-scope' : unused.length > 0 ? 'over-provisioned' : 'ok';
  return {
    agent: policy.metadata.name,
    workload,
    window: {
      start: envelope.spec.observation.start,
      end: envelope.spec.observation.end,
      requests: envelope.spec.observation.requests,
    },
    declared: declared.length,
    exercised,
    unused,
    outside,
    exercisedShare: Math.round(share * 1000) / 1000,
    status,
  };
}

const item = (s: ScopeItem): string =>
  `${s.interaction}${s.operation ? ` ${s.operation}` : ''} ${s.resourceType || '(system)'}`;

export function attestationMarkdown(
  list: readonly AgentAttestation[],
  meta: { policyVersion: string; generated: string },
): string {
  let md = `# Minimum-necessary attestation (45 CFR §164.502(b))\n\nPolicy set ${meta.policyVersion}; generated ${meta.generated}.\n\n`;
  md +=
    '| agent | workload | window | declared | exercised | share | outside declared | status |\n|---|---|---|---:|---:|---:|---:|---|\n';
  for (const a of list) {
    const window = a.window ? `${a.window.start} .. ${a.window.end} (${a.window.requests} requests)` : 'no envelope';
    const cells = [a.agent, a.workload, window, a.declared, a.declared - a.unused.length];
    cells.push(`${(a.exercisedShare * 100).toFixed(0)}%`, a.outside.length, a.status);
    md += `| ${cells.join(' | ')} |\n`;
  }
  for (const a of list) {
    md += `\n## ${a.agent}\n\n`;
    md +=
      a.unused.length > 0
        ? `Provisioned and never used (candidates to remove from scope):\n${a.unused.map((u) => `- ${item(u)}`).join('\n')}\n\n`
        : 'Every provisioned scope item was used.\n\n';
    md +=
      a.outside.length > 0
        ? `**Observed outside the declared scope:**\n${a.outside.map((o) => `- ${item(o)}: ${o.count} requests`).join('\n')}\n\n`
        : 'No access outside the declared scope was observed.\n\n';
    if (a.exercised.length > 0)
      md += `Exercised:\n${a.exercised.map((o) => `- ${item(o)}: ${o.count} requests`).join('\n')}\n`;
  }
  return md;
}

export function attestationHtml(
  list: readonly AgentAttestation[],
  meta: { policyVersion: string; generated: string },
): string {
  const esc = (s: string): string =>
    s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c] ?? c);
  const rows = list
    .map((a) => {
      const cells = [esc(a.agent), esc(a.workload), a.declared, a.declared - a.unused.length];
      cells.push(`${(a.exercisedShare * 100).toFixed(0)}%`, a.outside.length, esc(a.status));
      return `<tr>${cells.map((c) => `<td>${c}</td>`).join('')}</tr>`;
    })
    .join('\n');
  const details = list
    .map((a) => {
      const unused = a.unused.map((u) => `<li>${esc(item(u))}</li>`).join('');
      const outside = a.outside.map((o) => `<li>${esc(item(o))}: ${o.count}</li>`).join('');
      return (
        `<h2>${esc(a.agent)}</h2><h3>Provisioned, never used</h3><ul>${unused}</ul>` +
        `<h3>Outside declared scope</h3><ul>${outside}</ul>`
      );
    })
    .join('\n');
  const head = ['agent', 'workload', 'declared', 'exercised', 'share', 'outside', 'status'];
  return (
    '<!doctype html><html><head><meta charset="utf-8"><title>Minimum-necessary attestation</title></head><body>' +
    '<h1>Minimum-necessary attestation (45 CFR §164.502(b))</h1>' +
    `<p>Policy set ${esc(meta.policyVersion)}; generated ${esc(meta.generated)}.</p>` +
    `<table border="1"><tr>${head.map((h) => `<th>${h}</th>`).join('')}</tr>${rows}</table>${details}</body></html>\n`
  );
}
