/**
 * A raw request to the API server with the kubeconfig's credentials and TLS settings, for what the generic object
 * client does not reach: subresources (`/status`). The answer is the status code and the decoded JSON body (a
 * `Status` object on failure: https://kubernetes.io/docs/reference/using-api/api-concepts/#response-status-kind).
 */
import http from 'node:http';
import https from 'node:https';
import type { KubeConfig } from '@kubernetes/client-node';

export interface KubeResponse {
  status: number;
  body: Record<string, unknown>;
}

export async function kubeRequest(
  kc: KubeConfig,
  method: string,
  path: string,
  options: { query?: Record<string, string>; body?: string; contentType?: string; timeoutMs?: number } = {},
): Promise<KubeResponse> {
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new Error('the kubeconfig has no current cluster');
  const url = new URL(cluster.server.replace(/\/$/, '') + path);
  for (const [k, v] of Object.entries(options.query ?? {})) url.searchParams.set(k, v);
  const opts: https.RequestOptions = { method, headers: { accept: 'application/json' } };
  await kc.applyToHTTPSOptions(opts);
  if (options.contentType !== undefined) (opts.headers as Record<string, string>)['content-type'] = options.contentType;
  const lib = url.protocol === 'http:' ? http : https;
  return new Promise((resolve, reject) => {
    const req = lib.request(url, opts, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let body: Record<string, unknown> = {};
        try {
          body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
        } catch {
          body = { message: text.slice(0, 500) };
        }
        resolve({ status: res.statusCode ?? 0, body });
      });
      res.on('error', reject);
    });
    req.setTimeout(options.timeoutMs ?? 15_000, () => req.destroy(new Error(`${method} ${path}: timed out`)));
    req.on('error', reject);
    req.end(options.body);
  });
}
