/**
 * Sends hostile CheckRequests through the real gRPC service and checks the two promises: no hostile shape is allowed,
 * and every answer has exactly one audit record (matched by decision id), with no record that was not answered.
 */
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest } from '../../generator/call/index.js';
import type { HostileCheck } from './hostile-checks.js';

export interface Answer {
  decision: string;
  decisionId: string;
}

interface HeaderValue {
  header?: { key?: string; value?: string };
}

function headerOf(headers: HeaderValue[] | undefined, key: string): string {
  return headers?.find((h) => h.header?.key === key)?.header?.value ?? '';
}

function answerOf(res: Record<string, unknown>): Answer {
  const ok = res['ok_response'] as { headers?: HeaderValue[] } | undefined;
  const denied = res['denied_response'] as { headers?: HeaderValue[] } | undefined;
  const headers = ok?.headers ?? denied?.headers;
  return {
    decision: headerOf(headers, 'x-phiguard-decision') || 'none',
    decisionId: headerOf(headers, 'x-phiguard-decision-id'),
  };
}

/** Sends every check, `concurrency` at a time, on one connection; the answers in request order. */
export async function sendAll(addr: string, checks: readonly HostileCheck[], concurrency = 32): Promise<Answer[]> {
  const client = createCheckClient(addr);
  const answers = new Array<Answer>(checks.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < checks.length) {
      const i = next++;
      const c = checks[i];
      if (c === undefined) continue;
      const res = await client.check(toGrpcCheckRequest(CheckInputSchema.parse(c.request)));
      answers[i] = answerOf(res);
    }
  };
  try {
    await Promise.all(Array.from({ length: concurrency }, worker));
  } finally {
    client.close();
  }
  return answers;
}

/** The broken promises, as readable lines (empty when none). */
export function violations(
  checks: readonly HostileCheck[],
  answers: readonly Answer[],
  records: readonly Record<string, unknown>[],
): string[] {
  const out: string[] = [];
  const byId = new Map<string, number>();
  for (const r of records) {
    if (r['type'] !== 'decision') continue;
    const id = String(r['decisionId']);
    byId.set(id, (byId.get(id) ?? 0) + 1);
  }
  const answered = new Set<string>();
  checks.forEach((c, i) => {
    const a = answers[i];
    if (a === undefined) return void out.push(`no answer: ${c.shape}`);
    if (a.decision === 'allow' || (c.must === 'always' && a.decision !== 'deny'))
      out.push(`${a.decision} (must ${c.must === 'always' ? 'deny' : 'not allow'}): ${c.shape}`);
    const n = byId.get(a.decisionId) ?? 0;
    if (n !== 1) out.push(`${n} audit records for decision ${a.decisionId}: ${c.shape}`);
    answered.add(a.decisionId);
  });
  for (const id of byId.keys()) if (!answered.has(id)) out.push(`audit record ${id} for no answered check`);
  return out;
}
