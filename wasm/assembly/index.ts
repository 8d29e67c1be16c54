// phiguard's proxy-wasm HTTP filter (ABI 0.2.1). At configure time it reads the decision program from the plugin
// configuration (a bad one fails the configuration: with failStrategy FAIL_CLOSE Envoy then denies). Per request it
// reads the peer's URI SAN, `:method`, `:path` and `:authority`, looks the request up in the agent's table and
// continues (ALLOW), answers with the service's status and OperationOutcome (DENY), or asks phiguard's ext_authz
// Check over gRPC (DEFER); a failed or timed-out call denies. It never reads a body.
import {
  BUFFER_GRPC_RECEIVE,
  BUFFER_PLUGIN_CONFIGURATION,
  LOG_WARN,
  continueRequest,
  currentTimeNanos,
  getBuffer,
  getProperty,
  getRequestHeader,
  getRequestHeaderPairs,
  grpcCall,
  log,
  removeRequestHeader,
  replaceRequestHeader,
  sendLocalResponse,
  serializePairs,
  setEffectiveContext,
  setProperty,
} from './abi';
import { decodeCheckResponse, encodeCheckRequest, encodeGrpcService } from './check-wire';
import { Program, Verdict, cellKey, parseProgram, unwrapPluginConfig } from './program';
import { SHAPE_DEFER, SHAPE_INVALID, requestShape } from './request-shape';

const ACTION_CONTINUE: u32 = 0;
const ACTION_PAUSE: u32 = 1;

let program: Program | null = null;
let grpcService: ArrayBuffer = new ArrayBuffer(0);
/** Outstanding Check calls: token -> stream context, and back. */
const pendingByToken = new Map<u32, u32>();
const tokenByStream = new Map<u32, u32>();
/** The request line of each stream with an outstanding Check call: a failed call's deny is recorded with it. */
const seenByStream = new Map<u32, Seen>();

export function proxy_abi_version_0_2_1(): void {}

export function proxy_on_memory_allocate(size: usize): usize {
  return heap.alloc(size);
}

/** This VM's start (host clock, hex) and a count of its decisions: together, the in-proxy decision id. */
let vmStart: string = '0';
let decisions: u64 = 0;

export function proxy_on_vm_start(rootContextId: u32, vmConfigurationSize: u32): bool {
  vmStart = currentTimeNanos().toString(16);
  return true;
}

export function proxy_on_context_create(contextId: u32, parentContextId: u32): void {}

export function proxy_on_configure(rootContextId: u32, configurationSize: u32): bool {
  program = null;
  const bytes = getBuffer(BUFFER_PLUGIN_CONFIGURATION, configurationSize);
  if (bytes == null) return false;
  const text = unwrapPluginConfig(String.UTF8.decode(bytes));
  let p: Program | null = null;
  if (text != null) p = parseProgram(text);
  if (p == null) {
    log(LOG_WARN, 'phiguard: the decision program is not valid; every request is denied');
    return false;
  }
  program = p;
  grpcService = encodeGrpcService(p.authzCluster);
  return true;
}

function headerString(name: string): string | null {
  const b = getRequestHeader(name);
  return b == null ? null : String.UTF8.decode(b);
}

/**
 * The id of an in-proxy decision: this VM's start time and the count of its decisions, so no two decisions share one
 * (the request's x-request-id, which the caller can choose, is recorded beside it, not as it).
 */
function decisionId(): string {
  decisions++;
  return 'px-' + vmStart + '-' + decisions.toString(16);
}

/** The request's x-request-id as the audit record's request id (the first value; at most 256 characters kept). */
function requestIdOf(): string {
  const rid = headerString('x-request-id');
  if (rid == null) return '';
  return rid.length <= 256 ? rid : rid.substring(0, 256);
}

/** At most `max` UTF-16 units of `s` (the receiver's limits: authz/service/proxy-audit.ts ProxyDecisionSchema). */
function cap(s: string, max: i32): string {
  return s.length <= max ? s : s.substring(0, max);
}

/**
 * The request line a decision is about: what the audit record is built from, each field within the receiver's limit,
 * so any request the filter denies (its own denies meet any caller and any header) is one the receiver records.
 */
class Seen {
  principal: string;
  method: string;
  path: string;
  host: string;
  requestId: string;
  constructor(principal: string, method: string, path: string, host: string, requestId: string) {
    this.principal = cap(principal, 2048);
    this.method = cap(method, 64);
    this.path = cap(path, 1048576);
    this.host = cap(host, 1024);
    this.requestId = cap(requestId, 256);
  }
}

const HEX = '0123456789abcdef';

/** A JSON string literal (RFC 8259 section 7): quote, backslash, controls and every surrogate half escaped. */
function jsonString(s: string): string {
  let plain = true;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x20 || c == 0x22 || c == 0x5c || (c >= 0xd800 && c <= 0xdfff)) {
      plain = false;
      break;
    }
  }
  if (plain) return '"' + s + '"';
  const parts: string[] = ['"'];
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c == 0x22) parts.push('\\"');
    else if (c == 0x5c) parts.push('\\\\');
    else if (c < 0x20 || (c >= 0xd800 && c <= 0xdfff))
      parts.push(
        '\\u' + HEX.charAt((c >> 12) & 15) + HEX.charAt((c >> 8) & 15) + HEX.charAt((c >> 4) & 15) + HEX.charAt(c & 15),
      );
    else parts.push(String.fromCharCode(c));
  }
  parts.push('"');
  return parts.join('');
}

/**
 * Filter state for the access log (audit): Envoy keeps it under `wasm.phiguard_decision`, and phiguard's access-log
 * receiver writes the decision record from it (authz/service/proxy-audit.ts reads exactly these fields).
 */
function recordDecision(
  outcome: string,
  rule: string,
  reason: string,
  status: u32,
  agent: string,
  seen: Seen,
  policy: string,
  id: string,
): void {
  setProperty(
    'phiguard_decision',
    '{"decision":' +
      jsonString(outcome) +
      ',"rule":' +
      jsonString(rule) +
      ',"reason":' +
      jsonString(reason) +
      ',"status":' +
      status.toString() +
      ',"agent":' +
      jsonString(agent) +
      ',"principal":' +
      jsonString(seen.principal) +
      ',"method":' +
      jsonString(seen.method) +
      ',"path":' +
      jsonString(seen.path) +
      ',"authority":' +
      jsonString(seen.host) +
      ',"policyVersion":' +
      jsonString(policy) +
      ',"decisionId":' +
      jsonString(id) +
      ',"requestId":' +
      jsonString(seen.requestId) +
      '}',
  );
}

function denyHeaders(id: string): ArrayBuffer {
  return serializePairs(
    ['content-type', 'x-phiguard-decision-id', 'x-phiguard-decision'],
    ['application/fhir+json', id, 'deny'],
  );
}

function denyWith(v: Verdict, reason: string, contextId: u32, policy: string, seen: Seen): u32 {
  const id = decisionId();
  const body = v.body.replaceAll('{{decision-id}}', id).replaceAll('{{reason}}', reason);
  recordDecision('deny', v.rule, v.reason, v.status, v.agent, seen, policy, id);
  sendLocalResponse(v.status, 'phiguard_in_proxy_deny', body, denyHeaders(id));
  return ACTION_PAUSE;
}

/** The deny for a Check that failed, timed out or answered nonsense: the request does not go on. */
function denyUnavailable(contextId: u32, rule: string, seen: Seen): void {
  const id = decisionId();
  const p = program;
  recordDecision('deny', rule, 'internal-error', 403, '', seen, p == null ? '' : p.policyVersion, id);
  const body =
    '{"resourceType":"OperationOutcome","issue":[{"severity":"error","code":"exception","details":{"coding":' +
    '[{"system":"https://phiguard.io/fhir/CodeSystem/decision-reason","code":"internal-error"}],"text":' +
    '"Denied: the authorization decision is unavailable"},"diagnostics":"phiguard decision ' +
    id +
    ': rule \\"' +
    rule +
    '\\""}]}';
  sendLocalResponse(403, 'phiguard_in_proxy_' + rule, body, denyHeaders(id));
}

function defer(contextId: u32, p: Program, principal: string, method: string, path: string, host: string): u32 {
  // Envoy's ext_authz filter after this one Checks it (with its body and the jwt_authn payload), and records it.
  if (p.deferToNext) return ACTION_CONTINUE;
  const keys: string[] = [];
  const values: string[] = [];
  const pairs = getRequestHeaderPairs();
  if (pairs != null) readPairs(pairs, keys, values);
  const message = encodeCheckRequest(principal, method, path, host, keys, values);
  const token = grpcCall(grpcService, 'envoy.service.auth.v3.Authorization', 'Check', message, p.timeoutMs);
  const seen = new Seen(principal, method, path, host, requestIdOf());
  if (token == 0) {
    denyUnavailable(contextId, 'wasm-check-call-failed', seen);
    return ACTION_PAUSE;
  }
  pendingByToken.set(token, contextId);
  tokenByStream.set(contextId, token);
  seenByStream.set(contextId, seen);
  return ACTION_PAUSE;
}

/** Reads the ABI's serialized header pairs; stops at the first inconsistency. */
function readPairs(buf: ArrayBuffer, keys: string[], values: string[]): void {
  const size = buf.byteLength;
  if (size < 4) return;
  const base = changetype<usize>(buf);
  const n = load<u32>(base);
  if (<u64>n * 8 + 4 > <u64>size) return;
  let at: u64 = 4 + <u64>n * 8;
  for (let i: u32 = 0; i < n; i++) {
    const ks = <u64>load<u32>(base + 4 + i * 8);
    const vs = <u64>load<u32>(base + 8 + i * 8);
    if (at + ks + vs + 2 > <u64>size) return;
    keys.push(String.UTF8.decode(buf.slice(<i32>at, <i32>(at + ks))));
    at += ks + 1;
    values.push(String.UTF8.decode(buf.slice(<i32>at, <i32>(at + vs))));
    at += vs + 1;
  }
}

export function proxy_on_request_headers(contextId: u32, headerCount: u32, endOfStream: bool): u32 {
  const p = program;
  const sanBytes = getProperty('connection\0uri_san_peer_certificate');
  const principal = sanBytes == null ? '' : String.UTF8.decode(sanBytes);
  const methodH = headerString(':method');
  const pathH = headerString(':path');
  const hostH = headerString(':authority');
  const method = methodH == null ? '' : methodH;
  const path = pathH == null ? '' : pathH;
  const host = hostH == null ? '' : hostH;
  if (p == null) {
    denyUnavailable(contextId, 'wasm-not-configured', new Seen(principal, method, path, host, requestIdOf()));
    return ACTION_PAUSE;
  }
  if (!p.agents.has(principal) || methodH == null || pathH == null || hostH == null)
    return defer(contextId, p, principal, method, path, host);
  const agent = p.agents.get(principal);
  // A bearer token (or a header the program names) can change the decision before any rule: the service decides.
  for (let i = 0; i < p.deferHeaders.length; i++)
    if (getRequestHeader(p.deferHeaders[i]) != null) return defer(contextId, p, principal, method, path, host);
  const hasOverride =
    getRequestHeader('x-http-method-override') != null ||
    getRequestHeader('x-http-method') != null ||
    getRequestHeader('x-method-override') != null;
  const shape = requestShape(p.fhir, method, path, hasOverride);
  if (shape.kind == SHAPE_DEFER) return defer(contextId, p, principal, method, path, host);
  // A body follows the headers (HTTP/2 needs no content-length for it), or the headers announce one.
  if (shape.kind != SHAPE_INVALID && (!endOfStream || announcesBody()))
    return defer(contextId, p, principal, method, path, host);
  const h = agent.hosts.indexOf(host);
  if (h < 0) return defer(contextId, p, principal, method, path, host);
  const c = agent.hostClass[h];
  let key = cellKey(c, method, shape.key, shape.resourceType);
  if (!agent.cells.has(key)) key = cellKey(c, method, shape.key, '*');
  if (!agent.cells.has(key)) return defer(contextId, p, principal, method, path, host);
  const index = agent.cells.get(key);
  if (index < 0) return defer(contextId, p, principal, method, path, host);
  const v = p.verdicts[index];
  if (v.allow) {
    const seen = new Seen(principal, method, path, host, requestIdOf());
    const id = decisionId();
    recordDecision('allow', v.rule, v.reason, 200, v.agent, seen, p.policyVersion, id);
    // The headers the service's OK response sets (authz/transport/check-response.ts): what the agent sent under these
    // names never reaches the upstream.
    replaceRequestHeader('x-phiguard-decision', 'allow');
    replaceRequestHeader('x-phiguard-decision-id', id);
    replaceRequestHeader('x-phiguard-agent', v.agent);
    replaceRequestHeader('x-phiguard-rule', v.rule);
    return ACTION_CONTINUE;
  }
  return denyWith(v, shape.reason, contextId, p.policyVersion, new Seen(principal, method, path, host, requestIdOf()));
}

/** The request carries or announces a body, or headers that shape how the service reads it. */
function announcesBody(): bool {
  const length = headerString('content-length');
  if (length != null && length.trim() != '0') return true;
  return (
    getRequestHeader('transfer-encoding') != null ||
    getRequestHeader('content-type') != null ||
    getRequestHeader('if-none-exist') != null
  );
}

function streamOf(token: u32): u32 {
  if (!pendingByToken.has(token)) return 0;
  const ctx = pendingByToken.get(token);
  pendingByToken.delete(token);
  if (tokenByStream.has(ctx)) tokenByStream.delete(ctx);
  return ctx;
}

/** The request line of a stream whose Check call ended (forgotten from here on). */
function takeSeen(ctx: u32): Seen {
  if (!seenByStream.has(ctx)) return new Seen('', '', '', '', '');
  const seen = seenByStream.get(ctx);
  seenByStream.delete(ctx);
  return seen;
}

export function proxy_on_grpc_receive(rootContextId: u32, token: u32, responseSize: u32): void {
  const ctx = streamOf(token);
  if (ctx == 0) return;
  setEffectiveContext(ctx);
  const seen = takeSeen(ctx);
  const bytes = getBuffer(BUFFER_GRPC_RECEIVE, responseSize);
  if (bytes == null) {
    denyUnavailable(ctx, 'wasm-check-unreadable', seen);
    return;
  }
  const r = decodeCheckResponse(bytes);
  if (!r.valid) {
    denyUnavailable(ctx, 'wasm-check-unreadable', seen);
    return;
  }
  if (r.code == 0) {
    for (let i = 0; i < r.removeHeaders.length; i++) removeRequestHeader(r.removeHeaders[i]);
    for (let i = 0; i < r.headerKeys.length; i++) replaceRequestHeader(r.headerKeys[i], r.headerValues[i]);
    continueRequest();
    return;
  }
  const status = r.httpStatus >= 100 && r.httpStatus <= 599 ? r.httpStatus : 403;
  sendLocalResponse(status, 'phiguard_ext_authz_deny', r.body, serializePairs(r.headerKeys, r.headerValues));
}

export function proxy_on_grpc_close(rootContextId: u32, token: u32, statusCode: u32): void {
  const ctx = streamOf(token);
  if (ctx == 0) return;
  setEffectiveContext(ctx);
  denyUnavailable(ctx, statusCode == 4 ? 'wasm-check-timeout' : 'wasm-check-call-failed', takeSeen(ctx));
}

export function proxy_on_grpc_receive_initial_metadata(rootContextId: u32, token: u32, headers: u32): void {}
export function proxy_on_grpc_receive_trailing_metadata(rootContextId: u32, token: u32, trailers: u32): void {}

export function proxy_on_done(contextId: u32): bool {
  return true;
}

export function proxy_on_log(contextId: u32): void {}

export function proxy_on_delete(contextId: u32): void {
  if (seenByStream.has(contextId)) seenByStream.delete(contextId);
  if (tokenByStream.has(contextId)) {
    const token = tokenByStream.get(contextId);
    tokenByStream.delete(contextId);
    if (pendingByToken.has(token)) pendingByToken.delete(token);
  }
}
