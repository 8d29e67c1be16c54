/**
 * The operations listener: `/metrics` (Prometheus text format), `/healthz` (liveness) and `/readyz` (readiness).
 * Kubernetes probes (https://kubernetes.io/docs/concepts/configuration/liveness-readiness-startup-probes/): a failed
 * readiness probe takes the pod out of its Service's endpoints until it passes again; a failed liveness probe
 * restarts the container. Both answer a JSON body saying why.
 *
 * - `/healthz` fails (503) only for what a restart cures and nothing else does: an audit sink that failed (it never
 *   recovers: every Check is denied until the process restarts). While draining it stays 200.
 * - `/readyz` fails (503) while draining, while Checks are being denied for audit reasons (a failed sink, the audit
 *   queue past `--audit-max-buffer-bytes`, or an `audit-unavailable` deny in the last AUDIT_DENY_READY_WINDOW_MS), and
 *   until a configured JWKS key set has been loaded once (engine.ts says why a key set lost later does not fail it).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

/**
 * The JWKS key sets: `none` (no JWKS configured), `available`, `unavailable` (held once, not usable now: tokens are
 * denied `keys-unavailable`), `not-yet-loaded` (never held since start).
 */
export type KeysState = 'none' | 'available' | 'unavailable' | 'not-yet-loaded';

export interface Readiness {
  ready: boolean;
  policyVersion: string;
  /** The last policy reload failed: an older set is in force (reported; the pod stays ready). */
  policyStale: boolean;
  /** No Check is being denied for audit reasons: the sink works, its queue is within bounds, no recent audit deny. */
  auditHealthy: boolean;
  /** An audit sink failed: every Check is denied until restart (/healthz fails too). */
  auditFailed: boolean;
  /** The audit queue is past `--audit-max-buffer-bytes`: new records are refused. */
  auditBacklogged: boolean;
  /** A Check was denied `audit-unavailable` within the last AUDIT_DENY_READY_WINDOW_MS. */
  auditDenying: boolean;
  keys: KeysState;
  draining: boolean;
}

export interface Liveness {
  live: boolean;
  /** Why not: `audit-sink-failed`, or "" when live. */
  reason: '' | 'audit-sink-failed';
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

export interface OpsProbes {
  readiness: () => Readiness;
  liveness: () => Liveness;
}

function json(res: http.ServerResponse, ok: boolean, body: object): void {
  res.writeHead(ok ? 200 : 503, { 'content-type': 'application/json', 'cache-control': 'no-store' });
  res.end(`${JSON.stringify(body)}\n`);
}

function handler(metrics: Metrics, probes: OpsProbes): http.RequestListener {
  return (req, res) => {
    const url = (req.url ?? '').split('?')[0];
    if (url === '/metrics') {
      metrics.exposition().then(
        (body) => {
          res.writeHead(200, { 'content-type': metrics.registry.contentType });
          res.end(body);
        },
        () => {
          res.writeHead(500);
          res.end();
        },
      );
    } else if (url === '/healthz') {
      const l = probes.liveness();
      json(res, l.live, l);
    } else if (url === '/readyz') {
      const r = probes.readiness();
      json(res, r.ready, r);
    } else {
      res.writeHead(404);
      res.end();
    }
  };
}

/** Listens on host:port. Rejects with an Error naming the address when it cannot. */
export async function startOpsServer(
  host: string,
  port: number,
  metrics: Metrics,
  probes: OpsProbes,
): Promise<OpsServer> {
  const server = http.createServer(handler(metrics, probes));
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  }).catch((e: unknown) => {
    throw new Error(`cannot listen for metrics on ${host}:${port}: ${e instanceof Error ? e.message : 'error'}`);
  });
  return { port: bound, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
