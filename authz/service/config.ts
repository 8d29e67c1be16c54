/**
 * Server settings: flags and `PHIGUARD_*` environment variables (Kubernetes Deployments set the latter), validated
 * with zod. Defaults live here.
 */
import { z } from 'zod';
import { AUDIT_EVENT_SCOPES } from '../audit/index.js';
import { ipv4Text, ipv6Text, parseCidr, type Cidr } from '../egress/index.js';
import { DEFAULT_SETTLE_MS } from '../reload/index.js';

const port = z.coerce.number().int().min(0).max(65535);

/** The block's network address: its address with every bit past the prefix cleared. */
function networkOf(c: Cidr): string {
  const keep = (v: number, bits: number, width: number): number =>
    bits >= width ? v : bits <= 0 ? 0 : v & (((2 ** width - 1) << (width - bits)) >>> 0);
  return c.family === 4
    ? ipv4Text(keep(c.value, c.bits, 32) >>> 0)
    : ipv6Text(c.groups.map((g, i) => keep(g, c.bits - 16 * i, 16)));
}

/**
 * An IPv4 or IPv6 CIDR block as the egress lane reads it (canonical-host.ts), kept in its canonical text. A block
 * whose address has bits set past its prefix is refused: `10.1/16` reads as 10.0.0.1/16 (inet_aton), not 10.1.0.0/16.
 */
const internalCidr = z.string().transform((text, ctx) => {
  const cidr = parseCidr(text);
  const network = cidr === undefined ? undefined : `${networkOf(cidr)}/${cidr.bits}`;
  if (cidr !== undefined && network === cidr.text) return cidr.text;
  const entry = `--internal-cidrs / PHIGUARD_INTERNAL_CIDRS: ${JSON.stringify(text)}`;
  ctx.addIssue({
    code: 'custom',
    message:
      cidr === undefined
        ? `${entry} is not a CIDR block (an IPv4 or IPv6 address, optionally with /bits)`
        : `${entry}${cidr.text === text ? '' : ` (read as ${cidr.text})`} has address bits set past its prefix ` +
          `(the block is ${network})`,
  });
  return z.NEVER;
});

export const ServerConfigSchema = z
  .object({
    host: z.string().default('127.0.0.1'),
    port: port.default(9191),
    metricsPort: port.default(9464),
    /** The agent policy directory (hot-reloaded); with `policiesFrom: files` (the default), required. */
    policies: z.string().min(1).optional(),
    /**
     * Where the policies come from, one source per replica: `files` (the `policies` directory) or
     * `cluster[:NAMESPACES]`, the AgentPolicy objects of those namespaces (comma-separated; none: all), watched
     * through the Kubernetes API (authz/kube; docs/kubernetes.md).
     */
    policiesFrom: z
      .string()
      .regex(
        /^(files|cluster(:[a-z0-9]([-a-z0-9]*[a-z0-9])?(,[a-z0-9]([-a-z0-9]*[a-z0-9])?)*)?)$/,
        'files, cluster or cluster:NAMESPACE[,NAMESPACE...]',
      )
      .default('files'),
    /** The kubeconfig for `policiesFrom: cluster` (default: $KUBECONFIG, ~/.kube/config, or in-cluster). */
    kubeconfig: z.string().min(1).optional(),
    fhirBase: z.array(z.string().startsWith('/')).min(1).default(['/fhir']),
    /** BAA registry (hot-reloaded). Without it, requests to outside hosts are denied. */
    baaRegistry: z.string().optional(),
    /** Containment state directory (a shared mount all replicas see); containment is off when unset. */
    containmentDir: z.string().optional(),
    /**
     * Where the replicas share containment: `files` (the `containmentDir` mount) or `cluster:NAMESPACE`, one
     * ConfigMap per contained agent in that namespace, watched through the Kubernetes API (docs/kubernetes.md).
     */
    containmentFrom: z
      .string()
      .regex(/^(files|cluster:[a-z0-9]([-a-z0-9]*[a-z0-9])?)$/, 'files or cluster:NAMESPACE')
      .default('files'),
    /**
     * The privacy key: a file of at least 32 bytes, normally a mounted Kubernetes Secret, read once at startup. It keys
     * every patient-derived value kept outside the audit trail (the `pause` containment context, the envelopes'
     * distinct-patient sketches) with HMAC-SHA256. Set but missing, unreadable or too short: the service does not
     * start. Unset: envelopes carry no patient sketch and `pause` is entered as `stop`. See docs/privacy.md.
     */
    privacyKeyFile: z.string().min(1).optional(),
    /** Egress credentials to inject (EgressCredentials file); agents then hold no provider keys. */
    egressCredentials: z.string().optional(),
    /**
     * The mesh's SPIFFE trust domain (Istio `meshConfig.trustDomain`). Agent selectors by namespace and service
     * account match only identities of this domain; a selector may name another with `trustDomain`.
     */
    trustDomain: z
      .string()
      .regex(/^[a-z0-9._-]{1,255}$/, 'a SPIFFE trust domain (lower-case letters, digits, ".", "_", "-")')
      .default('cluster.local'),
    /** Host suffixes that are internal (not egress); default in-cluster names and private zones. */
    internalDomains: z.array(z.string().startsWith('.')).optional(),
    /**
     * Address blocks whose IP literals are internal (the pod and Service CIDRs, a private network); none by default,
     * so an IP literal is outside. A protected endpoint inside a block stays protected. See docs/egress.md.
     */
    internalCidrs: z.array(internalCidr).default([]),
    auditFile: z.string().default('-'),
    /**
     * When a Check is answered relative to its record: `write` (default), after write(2) handed the record to the
     * kernel (a killed process loses none); `fsync`, after fdatasync(2) too (a power loss loses none; cost in
     * docs/performance.md). One write, and one fdatasync, per batch of Checks.
     */
    auditSync: z.enum(['write', 'fsync']).default('write'),
    /**
     * Decisions as FHIR AuditEvent (IHE BALP) JSON lines, for the EHR's audit repository (off when unset); which
     * decisions, `auditEvents` says.
     */
    auditEventFile: z.string().optional(),
    /** `break-glass` (default): break-glass lane accesses only; `all`: every decision (audit/audit-event.ts). */
    auditEvents: z.enum(AUDIT_EVENT_SCOPES).default('break-glass'),
    auditMaxBufferBytes: z.coerce
      .number()
      .int()
      .min(4096)
      .default(64 * 1024 * 1024),
    /**
     * Where decision audit lines are formatted and written: `thread`, a writer thread beside the thread that decides,
     * which then only hands over each decision's values; `inline`, on the deciding thread itself. Default: `inline`
     * when decisions run on the decision thread (it is off the gRPC thread already: a third thread only costs CPU),
     * `thread` when they run inline on the gRPC thread. See audit/threaded-sink.ts and docs/performance.md.
     */
    auditWriter: z.enum(['thread', 'inline']).optional(),
    /**
     * Where Checks are decided: `thread` (default), on a decision thread beside the gRPC thread, which then runs only
     * grpc-js (start-threaded.ts); `inline`, on the gRPC thread (start-inline.ts). `thread` needs a second core to pay
     * off
     * (CPU request/limit of 2); with one core, `inline` uses less CPU. See docs/performance.md.
     */
    decisions: z.enum(['thread', 'inline']).default('thread'),
    jwksFile: z.string().optional(),
    jwksUri: z.url().optional(),
    jwtIssuer: z.string().optional(),
    jwtAudience: z.array(z.string()).default([]),
    jwtOnInvalid: z.enum(['deny', 'ignore']).default('deny'),
    jwtAuthnPayloadKey: z.string().default('jwt_payload'),
    /**
     * How long a changed policy directory, BAA registry, credential secret or JWKS file must stay unchanged before
     * it is loaded, so a file written in chunks is never in force half-written (reload/watch-reload.ts). A rename or
     * a ConfigMap/Secret `..data` swap applies at once. See docs/reload.md.
     */
    reloadSettleMs: z.coerce
      .number()
      .int('a whole number of milliseconds')
      .min(100, 'at least 100 ms (a shorter settle interval does not outlast the pauses of a chunked write)')
      .max(60_000, 'at most 60000 ms (changes would wait that long to apply)')
      .default(DEFAULT_SETTLE_MS),
    logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
    shutdownGraceMs: z.coerce.number().int().min(0).default(10_000),
    /** Record behavioral envelopes into this directory (off when unset). */
    envelopeDir: z.string().optional(),
    envelopeFlushMs: z.coerce.number().int().min(1000).default(60_000),
    /** Replica id in envelope file names (default: hostname, pid and start time). */
    replica: z
      .string()
      .regex(/^[A-Za-z0-9._-]+$/)
      .optional(),
    /** HTTP/2 receive window (per stream and per connection) for the Check listener. */
    http2WindowBytes: z.coerce
      .number()
      .int()
      .min(65_535)
      .max(2 ** 31 - 1)
      .default(1024 * 1024),
    /**
     * HTTP/2 SETTINGS_MAX_CONCURRENT_STREAMS of the Check listener: the Checks one connection may have open at once.
     * A client past it waits (Envoy opens another connection); the service holds no more than this per connection.
     * See docs/performance.md ("One large request does not starve the others").
     */
    http2MaxStreams: z.coerce
      .number()
      .int()
      .min(1)
      .max(2 ** 31 - 1)
      .default(128),
    /**
     * With `--decisions thread`: Checks of at least this many wire bytes are decided on a second decision thread, so
     * a large FHIR Bundle never holds up the small Checks. 0 decides every Check on the one decision thread.
     */
    bulkCheckBytes: z.coerce
      .number()
      .int()
      .min(0)
      .default(256 * 1024),
    /**
     * The audit receiver for decisions the proxy-wasm filter makes in Envoy (docs/wasm.md#audit): `off` (default);
     * `xfcc`, each access-log stream is accepted from a reporter named in `proxyAuditReporters`, identified by the
     * URI of the `x-forwarded-client-cert` header phiguard's own sidecar sets (Istio); `network`, from any caller that
     * reaches the port (an Envoy front proxy, the port closed to everything else by network policy).
     */
    proxyAudit: z.enum(['off', 'xfcc', 'network']).default('off'),
    /** With `proxyAudit: xfcc`: the SPIFFE ids of the workloads whose proxies run the filter and report. */
    proxyAuditReporters: z
      .array(z.string().regex(/^spiffe:\/\/[^/\s]+\/\S*$/, 'a SPIFFE id (spiffe://trust-domain/path)'))
      .default([]),
  })
  .strict()
  .refine((c) => (c.policiesFrom === 'files') === (c.policies !== undefined), {
    message: 'set the policy directory (--policies) with --policies-from files, and not with --policies-from cluster',
    path: ['policies'],
  })
  .refine((c) => c.proxyAudit !== 'xfcc' || c.proxyAuditReporters.length > 0, {
    message:
      'proxyAudit xfcc needs at least one reporter (--proxy-audit-reporters, the SPIFFE id of a filtering proxy)',
    path: ['proxyAuditReporters'],
  })
  .refine((c) => c.proxyAudit === 'xfcc' || c.proxyAuditReporters.length === 0, {
    message: 'proxyAuditReporters are read only with proxyAudit xfcc',
    path: ['proxyAuditReporters'],
  })
  .refine((c) => !(c.jwksFile !== undefined && c.jwksUri !== undefined), {
    message: 'set only one of jwksFile / jwksUri',
  })
  .refine((c) => (c.jwksFile === undefined && c.jwksUri === undefined) || c.jwtIssuer !== undefined, {
    message: 'jwksFile/jwksUri need jwtIssuer',
  })
  .refine((c) => (c.jwksFile === undefined && c.jwksUri === undefined) || c.jwtAudience.length > 0, {
    message: 'jwksFile/jwksUri need jwtAudience',
  });

export type ServerConfig = z.infer<typeof ServerConfigSchema>;
