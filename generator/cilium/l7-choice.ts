/**
 * What a generated egress rule may check above L4, and why: HTTP rules, TLS SNI (`serverNames`) or nothing.
 *
 * Cilium enforces `rules.http` in its Envoy proxy, which must parse HTTP on the wire; on TLS it sees ciphertext and
 * the traffic is dropped unless the policy terminates TLS (`terminatingTLS`/`originatingTLS`, Cilium docs
 * security/tls-visibility.rst). What the envelope records is what the check point saw: a sidecar's CheckRequest
 * says `scheme: http` for a request the same sidecar then sends over mTLS (to a mesh peer) or TLS (a DestinationRule
 * originating TLS to an outside host). So HTTP rules are emitted only for plaintext recorded outside the mesh on a
 * port that does not carry TLS by convention; TLS recorded toward a DNS name gets `serverNames` (Cilium CRD
 * `toPorts[].serverNames`, v1.19: SNI checked by the proxy, no decryption); anything else is L4.
 */
import type { EnvelopeEgress } from '../../authz/index.js';

/** Ports that carry TLS by convention (IANA https 443; 8443, the common alternative). Never given HTTP rules. */
export const TLS_PORTS: ReadonlySet<number> = new Set([443, 8443]);

export type L7Choice =
  | { kind: 'http'; rules: Array<{ method: string; path: string }>; reason: string }
  | { kind: 'sni'; serverNames: string[]; reason: string }
  | { kind: 'l4'; reason: string; mixed?: true };

function escapeRegex(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/** `/fhir/Observation/{id}` -> `^/fhir/Observation/[^/?]+(\?.*)?$` (Envoy matches :path, query included, in full). */
export function pathRegex(template: string): string {
  const parts = template.split(/(\{[a-z]+\})/).map((p) => (/^\{[a-z]+\}$/.test(p) ? '[^/?]+' : escapeRegex(p)));
  return `^${parts.join('')}(\\?.*)?$`;
}

/** Where the rule goes, as far as the L7 choice cares. */
export interface L7Context {
  /** The workload runs an Istio sidecar: its egress may be mTLS or TLS whatever the check point saw. */
  mesh: boolean;
  /** The SNI a TLS client sends for this destination: the recorded DNS name; undefined for in-cluster peers. */
  sniName: string | undefined;
}

/**
 * The L7 part of one recorded egress, with the reason written into the policy's `phiguard.io/rules` annotation.
 *
 * @returns HTTP rules, server names, or L4 only; `mixed` when TLS and plaintext were both recorded. Never throws.
 */
export function chooseL7(e: EnvelopeEgress, ctx: L7Context): L7Choice {
  const tls = e.transports.includes('tls');
  const plain = e.transports.includes('plaintext');
  if (tls && plain) return { kind: 'l4', reason: 'L4: both TLS and plaintext recorded', mixed: true };
  if (tls) {
    if (ctx.sniName !== undefined)
      return {
        kind: 'sni',
        serverNames: [ctx.sniName],
        reason: 'L4 + serverNames: TLS recorded; HTTP is not visible without TLS interception',
      };
    return {
      kind: 'l4',
      reason: ctx.mesh
        ? 'L4: mTLS between sidecars; its SNI is the mesh cluster name, not the host'
        : 'L4: TLS recorded toward an in-cluster peer; HTTP is not visible without TLS interception',
    };
  }
  if (!plain) return { kind: 'l4', reason: 'L4: no transport recorded' };
  if (ctx.mesh)
    return {
      kind: 'l4',
      reason: 'L4: the sidecar may send this request over mTLS or originated TLS; HTTP rules would drop it',
    };
  if (TLS_PORTS.has(e.port))
    return {
      kind: 'l4',
      reason: `L4: port ${e.port} carries TLS by convention; plaintext at the check point may be TLS on the wire`,
    };
  if (e.methods.length === 0 || e.paths.length === 0)
    return { kind: 'l4', reason: 'L4: plaintext recorded without methods and paths' };
  const rules: Array<{ method: string; path: string }> = [];
  for (const m of [...e.methods].sort())
    for (const p of [...e.paths].sort()) rules.push({ method: escapeRegex(m), path: pathRegex(p) });
  return { kind: 'http', rules, reason: 'L7 HTTP: plaintext recorded outside the mesh on a port without TLS' };
}
