/**
 * Credential injection for egress: agents hold no provider API keys. For an allowed request to a BAA-covered
 * endpoint, phiguard adds the endpoint's credential to the upstream request (ext_authz OkHttpResponse.headers) and
 * removes any credential the agent sent itself (OkHttpResponse.headers_to_remove). Secrets are read from mounted
 * files (Kubernetes Secret volumes) and re-read when they change. Credentials are never logged or audited.
 */
import { readFileSync, statSync } from 'node:fs';
import { z } from 'zod';
import { readYamlFile } from '../config/index.js';
import { ok, type Result } from '../model/index.js';

export const CredentialsSchema = z
  .object({
    apiVersion: z.literal('phiguard.io/v1alpha1'),
    kind: z.literal('EgressCredentials'),
    spec: z
      .object({
        endpoints: z.array(
          z
            .object({
              host: z.string().min(1),
              /** Header to set upstream, e.g. `api-key` or `authorization`. */
              header: z.string().regex(/^[a-z0-9-]+$/, 'a lower-case header name'),
              /** File holding the secret (a mounted Secret key). */
              secretFile: z.string().min(1),
              /** Prefix, e.g. `Bearer `. */
              prefix: z.string().default(''),
            })
            .strict(),
        ),
      })
      .strict(),
  })
  .strict();

/** Headers an agent might carry credentials in; always stripped on injected egress. */
export const AGENT_CREDENTIAL_HEADERS = ['authorization', 'proxy-authorization', 'api-key', 'x-api-key'];

export interface Injection {
  set: Array<{ key: string; value: string }>;
  remove: string[];
}

export interface CredentialStore {
  /** The injection for a host, or undefined when no credential is configured (or the secret is unreadable). */
  forHost(host: string): Injection | undefined;
}

/**
 * Reads and validates the credentials file (an `io` or `config` error naming file, line and field). Secret files
 * are read when used, not here; `onError` gets the errno code of a secret that cannot be read.
 */
export function readCredentialStore(file: string, onError?: (code: string) => void): Result<CredentialStore> {
  const doc = readYamlFile(file, CredentialsSchema);
  return doc.ok ? ok(createCredentialStore(doc.value, onError)) : doc;
}

function createCredentialStore(
  doc: z.infer<typeof CredentialsSchema>,
  onError?: (code: string) => void,
): CredentialStore {
  const cache = new Map<string, { sig: string; value: string; checked: number }>();
  const secret = (path: string): string | undefined => {
    const now = Date.now();
    const hit = cache.get(path);
    if (hit && now - hit.checked < 1000) return hit.value;
    try {
      const st = statSync(path);
      const sig = `${st.size}:${st.mtimeMs}`;
      if (hit && hit.sig === sig) {
        hit.checked = now;
        return hit.value;
      }
      const value = readFileSync(path, 'utf8').trim();
      cache.set(path, { sig, value, checked: now });
      return value;
    } catch (e) {
      onError?.((e as NodeJS.ErrnoException).code ?? 'error');
      return undefined;
    }
  };
  const byHost = new Map(doc.spec.endpoints.map((e) => [e.host.toLowerCase(), e]));
  return {
    forHost(host) {
      const e = byHost.get(host.toLowerCase());
      if (!e) return undefined;
      const v = secret(e.secretFile);
      if (v === undefined || v === '') return undefined;
      return {
        set: [{ key: e.header, value: `${e.prefix}${v}` }],
        remove: [...new Set([...AGENT_CREDENTIAL_HEADERS, e.header])],
      };
    },
  };
}
