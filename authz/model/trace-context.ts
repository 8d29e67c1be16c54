/**
 * The request's trace context, as the mesh propagates it, so a SIEM can join phiguard's audit records and logs with
 * the mesh's spans and access logs (Envoy and Istio log `x-request-id` and the trace headers).
 *
 * Read from the request headers ext_authz forwards (Envoy `ext_authz` sends the request's headers in
 * `attributes.request.http.headers`; Istio's CUSTOM provider sends the ones its `includeRequestHeadersInCheck` lists,
 * which must then name `traceparent`, `b3`, `x-b3-traceid` and `x-b3-spanid`). In order of preference:
 * - W3C Trace Context `traceparent` (https://www.w3.org/TR/trace-context/#traceparent-header): version `00` only,
 *   `00-<32 hex trace-id>-<16 hex parent-id>-<2 hex flags>`, lower-case, ids not all zeros (§3.2.2.3, §3.2.2.4);
 * - B3 single header `b3` (https://github.com/openzipkin/b3-propagation#single-header):
 *   `<16|32 hex trace id>-<16 hex span id>[-<sampling>[-<16 hex parent span id>]]`;
 * - B3 multi headers `x-b3-traceid` (16 or 32 hex) and `x-b3-spanid` (16 hex).
 * A value that does not match its format is ignored, never echoed: a header is the caller's text, and only ids of
 * the documented shape reach the audit trail and the logs.
 */

/** The ids of a request's trace: both "" when the request carried no valid trace context. */
export interface TraceIds {
  /** 32 (or, from B3, 16) lower-case hex digits, or "". */
  traceId: string;
  /** The caller's span: 16 lower-case hex digits, or "". */
  spanId: string;
}

export const NO_TRACE: Readonly<TraceIds> = Object.freeze({ traceId: '', spanId: '' });

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-[0-9a-f]{2}$/;
const B3_SINGLE = /^([0-9a-f]{32}|[0-9a-f]{16})-([0-9a-f]{16})(?:-(?:[01d])(?:-[0-9a-f]{16})?)?$/;
const B3_TRACE_ID = /^(?:[0-9a-f]{32}|[0-9a-f]{16})$/;
const B3_SPAN_ID = /^[0-9a-f]{16}$/;
const ALL_ZEROS = /^0+$/;

const valid = (traceId: string, spanId: string): boolean => !ALL_ZEROS.test(traceId) && !ALL_ZEROS.test(spanId);

/**
 * The trace ids of a request from its headers (lower-case names), or `NO_TRACE`. Never throws; a malformed header
 * counts as absent.
 * @param headers The request headers, lower-case names (the attribute model's `request.headers`).
 * @returns The ids of the first valid trace context: `traceparent`, else `b3`, else `x-b3-traceid`/`x-b3-spanid`.
 */
export function traceIds(headers: ReadonlyMap<string, string> | undefined): Readonly<TraceIds> {
  if (headers === undefined || headers.size === 0) return NO_TRACE;
  const tp = TRACEPARENT.exec(headers.get('traceparent') ?? '');
  if (tp?.[1] !== undefined && tp[2] !== undefined && valid(tp[1], tp[2])) return { traceId: tp[1], spanId: tp[2] };
  const b3 = B3_SINGLE.exec(headers.get('b3') ?? '');
  if (b3?.[1] !== undefined && b3[2] !== undefined && valid(b3[1], b3[2])) return { traceId: b3[1], spanId: b3[2] };
  const traceId = headers.get('x-b3-traceid') ?? '';
  const spanId = headers.get('x-b3-spanid') ?? '';
  if (B3_TRACE_ID.test(traceId) && B3_SPAN_ID.test(spanId) && valid(traceId, spanId)) return { traceId, spanId };
  return NO_TRACE;
}

/** Request ids as Envoy generates them (UUIDs) or as a proxy may set them: up to 128 of `[A-Za-z0-9._:-]`. */
const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/**
 * The request id (`x-request-id`) for an operational log line, or "" when it is not of a request id's shape (a
 * header is the caller's text: anything else is not written to the logs).
 * @param id The request id as the attribute model carries it.
 */
export function loggableRequestId(id: string | undefined): string {
  return id !== undefined && REQUEST_ID.test(id) ? id : '';
}
