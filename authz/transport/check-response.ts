/**
 * Edge out: Decision -> envoy.service.auth.v3.CheckResponse (external_auth.proto), in proto-loader keepCase form.
 *
 * - allow: `status.code = OK (0)` with `ok_response` headers for the upstream (decision, id, policy, rule) — set with
 *   OVERWRITE_IF_EXISTS_OR_ADD so an agent cannot pre-set them — and `dynamic_metadata` for Envoy access logs.
 * - deny: `status.code = PERMISSION_DENIED (7)` with `denied_response` (HTTP status, `content-type:
 *   application/fhir+json`, an OperationOutcome body).
 */
import { decisionLabel, type Decision } from '../model/index.js';
import { operationOutcome } from './operation-outcome.js';

export const GRPC_OK = 0;
export const GRPC_PERMISSION_DENIED = 7;

/** envoy.config.core.v3.HeaderValueOption.HeaderAppendAction.OVERWRITE_IF_EXISTS_OR_ADD (base.proto). */
const OVERWRITE_IF_EXISTS_OR_ADD = 2;

interface HeaderOption {
  header: { key: string; value: string };
  append_action: number;
}

function header(key: string, value: string): HeaderOption {
  return { header: { key, value }, append_action: OVERWRITE_IF_EXISTS_OR_ADD };
}

/**
 * A google.protobuf.Struct of strings. protobufjs names Value fields in camelCase (`stringValue`) even under keepCase.
 */
function stringStruct(fields: Record<string, string>): { fields: Record<string, { stringValue: string }> } {
  const out: Record<string, { stringValue: string }> = {};
  for (const [k, v] of Object.entries(fields)) out[k] = { stringValue: v };
  return { fields: out };
}

/**
 * The decision fields a CheckResponse is made of, besides the decision id and injected credentials. The response
 * cache (response-cache.ts) keys its templates on exactly these, so the two cannot drift apart.
 */
export const RESPONSE_FIELDS = [
  'outcome',
  'mode',
  'agent',
  'rule',
  'reason',
  'status',
  'message',
  'policyVersion',
] as const;
export type ResponseShape = Pick<Decision, (typeof RESPONSE_FIELDS)[number] | 'inject'>;

export interface CheckResponseOptions {
  /** Header prefix for decision headers (default `x-phiguard-`). */
  headerPrefix?: string;
}

export function toCheckResponse(
  d: ResponseShape,
  decisionId: string,
  options: CheckResponseOptions = {},
): Record<string, unknown> {
  const p = options.headerPrefix ?? 'x-phiguard-';
  const label = decisionLabel(d);
  const metadata = stringStruct({
    decision: label,
    decision_id: decisionId,
    agent: d.agent,
    rule: d.rule,
    reason: d.reason,
    policy_version: d.policyVersion,
  });
  if (d.outcome === 'allow') {
    const ok: Record<string, unknown> = {
      headers: [
        header(`${p}decision`, label),
        header(`${p}decision-id`, decisionId),
        header(`${p}agent`, d.agent),
        header(`${p}rule`, d.rule),
        ...(d.inject?.set.map((h) => header(h.key, h.value)) ?? []),
      ],
    };
    // Credentials the agent sent itself never reach the upstream (external_auth.proto
    // OkHttpResponse.headers_to_remove).
    if (d.inject) ok['headers_to_remove'] = d.inject.remove.filter((h) => !d.inject?.set.some((s) => s.key === h));
    return {
      status: { code: GRPC_OK },
      ok_response: ok,
      dynamic_metadata: metadata,
    };
  }
  return {
    status: { code: GRPC_PERMISSION_DENIED, message: `phiguard: ${d.reason} (rule ${d.rule})` },
    denied_response: {
      status: { code: d.status },
      headers: [
        header('content-type', 'application/fhir+json'),
        header(`${p}decision-id`, decisionId),
        header(`${p}decision`, 'deny'),
      ],
      body: operationOutcome(d, decisionId),
    },
    dynamic_metadata: metadata,
  };
}
