/**
 * Credential injection for egress: agents hold no provider API keys. For an allowed request to a BAA-covered
 * endpoint, phiguard adds the endpoint's credential to the upstream request (ext_authz OkHttpResponse.headers) and
 * removes any credential the agent sent itself (OkHttpResponse.headers_to_remove). Secrets are read from mounted
 * files (Kubernetes Secret volumes), reloaded off the Check path. Credentials are never logged or audited.
 */
import { readFileSync } from 'node:fs';
import { z } from 'zod';
import { readYamlFile } from '../config/index.js';
import { ok, type Injection, type Result } from '../model/index.js';
import { watchReload } from '../reload/index.js';

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

export type { Injection } from '../model/index.js';

export interface CredentialStore {
  /** The injection for a host, or undefined when no credential is configured (or the secret is unreadable). */
  forHost(host: string): Injection | undefined;
  /** Stops watching the secret files. */
  close: () => void;
}

export interface CredentialStoreOptions {
  /** How long a secret written in place must stay unchanged before it loads (default `DEFAULT_SETTLE_MS`). */
  settleMs?: number;
}

/**
 * Reads and validates the credentials file (an `io` or `config` error naming file, line and field), reads every
 * secret and keeps them reloaded off the Check path (reload/watch-reload.ts): a rotated Secret (a `..data` swap) or a
 * secret renamed into place is used within the 1 s poll; a secret written in place once it has been unchanged for
 * the settle interval. A secret that cannot be read leaves its endpoint without a credential; `onError` gets its
 * errno code.
 */
export function readCredentialStore(
  file: string,
  onError?: (code: string) => void,
  options: CredentialStoreOptions = {},
): Result<CredentialStore> {
  const doc = readYamlFile(file, CredentialsSchema);
  if (!doc.ok) return doc;
  const endpoints = doc.value.spec.endpoints;
  const watched = watchReload<ReadonlyMap<string, Injection>>({
    paths: () => endpoints.map((e) => e.secretFile),
    load: () => ok(readInjections(endpoints, onError)),
    ...(options.settleMs !== undefined ? { settleMs: options.settleMs } : {}),
  });
  if (!watched.ok) return watched;
  const w = watched.value;
  return ok({ forHost: (host) => w.current().get(host.toLowerCase()), close: w.close });
}

type Endpoint = z.infer<typeof CredentialsSchema>['spec']['endpoints'][number];

/** The injection for each endpoint whose secret is readable and not empty, by lower-cased host. */
function readInjections(endpoints: readonly Endpoint[], onError?: (code: string) => void): Map<string, Injection> {
  const out = new Map<string, Injection>();
  for (const e of endpoints) {
    let value: string;
    try {
      value = readFileSync(e.secretFile, 'utf8').trim();
    } catch (err) {
      onError?.((err as NodeJS.ErrnoException).code ?? 'error');
      continue;
    }
    if (value === '') continue;
    out.set(e.host.toLowerCase(), {
      set: [{ key: e.header, value: `${e.prefix}${value}` }],
      remove: [...new Set([...AGENT_CREDENTIAL_HEADERS, e.header])],
    });
  }
  return out;
}
