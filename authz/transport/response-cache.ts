/**
 * Encoded CheckResponses, cached per decision shape.
 *
 * For one decision shape (the fields `RESPONSE_FIELDS` in check-response.ts names) the encoded CheckResponse is the
 * same bytes except the decision id, which is always a 36-character UUID. So the response is encoded once with a
 * 36-byte placeholder, the placeholder offsets are recorded, and each request copies the bytes and writes its id in
 * place (string lengths, and so every length prefix, are unchanged): a copy instead of a protobufjs encode per Check.
 * The cache holds at most `maxEntries` shapes and starts over when full, so hostile variety cannot grow it.
 */
import type { Decision } from '../model/index.js';
import { RESPONSE_FIELDS, toCheckResponse, type CheckResponseOptions } from './check-response.js';
import { authzRoot } from './grpc-codec.js';

/** 36 bytes that cannot occur in agent or rule names (`@` is not allowed there). */
const PLACEHOLDER = '@@PHIGUARD-DECISION-ID-PLACEHOLDER@@';
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

interface Template {
  bytes: Buffer;
  offsets: number[];
}

export interface ResponseEncoder {
  /** The encoded CheckResponse for a decision. */
  encode(d: Decision, decisionId: string): Buffer;
  /** Response shapes cached (bounded by `maxEntries`). */
  size(): number;
}

/** A response shape seen before, with its template (null: this shape is not templated). */
type Shaped = Pick<Decision, (typeof RESPONSE_FIELDS)[number]> & { template: Template | null };

function sameShape(a: Shaped, d: Decision): boolean {
  // Usually the very same string objects (from the compiled policy): === is a pointer compare then.
  for (const k of RESPONSE_FIELDS) if (a[k] !== d[k]) return false;
  return true;
}

export function createResponseEncoder(options: CheckResponseOptions = {}, maxEntries = 4096): ResponseEncoder {
  const Res = authzRoot().lookupType('envoy.service.auth.v3.CheckResponse');
  const encodeFresh = (d: Decision, id: string): Buffer =>
    Buffer.from(Res.encode(Res.fromObject(toCheckResponse(d, id, options))).finish());
  // Per rule name, the shapes seen for it: no key string is built per Check.
  const cache = new Map<string, Shaped[]>();
  let size = 0;
  const needle = Buffer.from(PLACEHOLDER);

  const template = (d: Decision): Template | null => {
    const shapes = cache.get(d.rule);
    if (shapes) for (const sh of shapes) if (sameShape(sh, d)) return sh.template;
    const bytes = encodeFresh(d, PLACEHOLDER);
    const offsets: number[] = [];
    for (let i = bytes.indexOf(needle); i !== -1; i = bytes.indexOf(needle, i + needle.length)) offsets.push(i);
    // The id appears in the decision-id header and the metadata (and the OperationOutcome on deny). If the
    // placeholder count is not what we put there (e.g. a policy message contains it), do not template.
    const expected = d.outcome === 'allow' ? 2 : 3;
    const t = offsets.length === expected ? { bytes, offsets } : null;
    if (size >= maxEntries) {
      cache.clear();
      size = 0;
    }
    const entry: Shaped = {
      outcome: d.outcome,
      mode: d.mode,
      agent: d.agent,
      rule: d.rule,
      reason: d.reason,
      status: d.status,
      message: d.message,
      policyVersion: d.policyVersion,
      template: t,
    };
    const list = cache.get(d.rule);
    if (list) list.push(entry);
    else cache.set(d.rule, [entry]);
    size++;
    return t;
  };

  return {
    size: () => size,
    encode(d, decisionId) {
      // Injected credentials differ per endpoint and rotate: never templated or cached.
      const t = UUID.test(decisionId) && d.inject === undefined ? template(d) : null;
      if (!t) return encodeFresh(d, decisionId);
      const out = Buffer.allocUnsafe(t.bytes.length);
      t.bytes.copy(out);
      for (const o of t.offsets) out.write(decisionId, o, 'latin1');
      return out;
    },
  };
}
