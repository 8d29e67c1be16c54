/**
 * The operations listener: `/metrics` (Prometheus text format), `/healthz` (the process is alive) and `/readyz`
 * (ready for traffic: not draining and the audit trail healthy; a JSON body says which).
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Metrics } from './metrics.js';

export interface Readiness {
  ready: boolean;
  policyVersion: string;
  policyStale: boolean;
  auditHealthy: boolean;
  draining: boolean;
}

export interface OpsServer {
  port: number;
  close(): Promise<void>;
}

function handler(metrics: Metrics, readiness: () => Readiness): http.RequestListener {
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
      res.writeHead(200, { 'content-type': 'text/plain' });
      res.end('ok\n');
    } else if (url === '/readyz') {
      const r = readiness();
      res.writeHead(r.ready ? 200 : 503, { 'content-type': 'application/json' });
      res.end(JSON.stringify(r));
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
  readiness: () => Readiness,
): Promise<OpsServer> {
  const server = http.createServer(handler(metrics, readiness));
  const bound = await new Promise<number>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  }).catch((e: unknown) => {
    throw new Error(`cannot listen for metrics on ${host}:${port}: ${e instanceof Error ? e.message : 'error'}`);
  });
  return { port: bound, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}
