/** `phiguard serve`: the ext_authz gRPC service. */
import { Command, Option } from 'commander';
import {
  createLogger,
  DEFAULT_INTERNAL_SUFFIXES,
  ServerConfigSchema,
  startAuthzServer,
  startThreadedAuthzServer,
  type AuthzService,
} from '../../authz/index.js';
import { formatFinding, isPhiguardError } from '../../authz/model/index.js';
import { list } from '../read-input.js';
import { describeDefaults, flagIssues } from './config-flags.js';

/** The defaults `serve` fills in, for `--help` (the policy directory is the one value with none). */
function serveDefaults(): Record<string, unknown> {
  const d = ServerConfigSchema.safeParse({ policies: '-' });
  if (!d.success) return {};
  const defaults: Record<string, unknown> = { ...d.data };
  delete defaults['policies'];
  return defaults;
}

export function serveCommand(): Command {
  const cmd = new Command('serve')
    .description('run the Envoy ext_authz gRPC service (envoy.service.auth.v3.Authorization/Check)')
    .addOption(new Option('--host <addr>', 'listen address').env('PHIGUARD_HOST'))
    .addOption(new Option('--port <n>', 'gRPC port').env('PHIGUARD_PORT'))
    .addOption(new Option('--metrics-port <n>', 'ops port: /metrics, /healthz, /readyz').env('PHIGUARD_METRICS_PORT'))
    .addOption(new Option('--policies <dir>', 'agent policy directory (hot-reloaded)').env('PHIGUARD_POLICIES'))
    .addOption(
      new Option(
        '--policies-from <source>',
        'files (default: the --policies directory) or cluster[:NAMESPACES], the AgentPolicy objects (one source per replica)',
      ).env('PHIGUARD_POLICIES_FROM'),
    )
    .addOption(
      new Option(
        '--kubeconfig <file>',
        'kubeconfig for --policies-from cluster (default: $KUBECONFIG, in-cluster)',
      ).env('PHIGUARD_KUBECONFIG'),
    )
    .addOption(
      new Option('--trust-domain <domain>', 'mesh SPIFFE trust domain of the agents (default cluster.local)').env(
        'PHIGUARD_TRUST_DOMAIN',
      ),
    )
    .addOption(
      new Option('--fhir-base <paths>', 'FHIR base path(s), comma-separated').env('PHIGUARD_FHIR_BASE').argParser(list),
    )
    .addOption(
      new Option('--baa-registry <file>', 'BAA registry (hot-reloaded); without it, outside egress is denied').env(
        'PHIGUARD_BAA_REGISTRY',
      ),
    )
    .addOption(
      new Option(
        '--privacy-key-file <file>',
        'key (a mounted Secret, >= 32 bytes) for the patient digests in containment states and envelopes',
      ).env('PHIGUARD_PRIVACY_KEY_FILE'),
    )
    .addOption(
      new Option('--containment-dir <dir>', 'containment state on a shared mount (enables tiered containment)').env(
        'PHIGUARD_CONTAINMENT_DIR',
      ),
    )
    .addOption(
      new Option(
        '--containment-from <source>',
        'files (the --containment-dir mount) or cluster:NAMESPACE, containment ConfigMaps through the API',
      ).env('PHIGUARD_CONTAINMENT_FROM'),
    )
    .addOption(
      new Option(
        '--egress-credentials <file>',
        'EgressCredentials: per-endpoint secrets to inject on allowed egress',
      ).env('PHIGUARD_EGRESS_CREDENTIALS'),
    )
    .addOption(
      new Option(
        '--internal-domains <suffixes>',
        `internal host suffixes, comma-separated (default ${DEFAULT_INTERNAL_SUFFIXES.join(',')})`,
      )
        .env('PHIGUARD_INTERNAL_DOMAINS')
        .argParser(list),
    )
    .addOption(
      new Option(
        '--internal-cidrs <blocks>',
        'address blocks whose IP literals are internal, comma-separated IPv4/IPv6 CIDRs (default none: an IP ' +
          'literal is outside); protected endpoints inside them stay denied',
      )
        .env('PHIGUARD_INTERNAL_CIDRS')
        .argParser(list),
    )
    .addOption(
      new Option('--audit-file <path>', 'audit sink: a file (append) or - for stdout').env('PHIGUARD_AUDIT_FILE'),
    )
    .addOption(
      new Option(
        '--audit-sync <when>',
        'write (default): a Check is answered once its record is written to the file; fsync: once it is on disk too',
      ).env('PHIGUARD_AUDIT_SYNC'),
    )
    .addOption(
      new Option(
        '--audit-max-buffer-bytes <n>',
        'audit bytes queued and not yet written before requests are denied',
      ).env('PHIGUARD_AUDIT_MAX_BUFFER_BYTES'),
    )
    .addOption(
      new Option(
        '--audit-writer <where>',
        'thread: audit lines formatted and written by a writer thread; inline: on the thread that decides ' +
          '(default: inline with --decisions thread, thread with --decisions inline)',
      ).env('PHIGUARD_AUDIT_WRITER'),
    )
    .addOption(
      new Option(
        '--decisions <where>',
        'thread (default): Checks decided on a decision thread beside the gRPC thread (needs 2 cores); inline: on the gRPC thread',
      ).env('PHIGUARD_DECISIONS'),
    )
    .addOption(
      new Option(
        '--audit-event-file <path>',
        'also write decisions as FHIR AuditEvent (IHE BALP) JSON lines, one per patient (see --audit-events)',
      ).env('PHIGUARD_AUDIT_EVENT_FILE'),
    )
    .addOption(
      new Option(
        '--audit-events <scope>',
        'which decisions --audit-event-file records: break-glass (default, lane accesses) or all',
      )
        .choices(['break-glass', 'all'])
        .env('PHIGUARD_AUDIT_EVENTS'),
    )
    .addOption(new Option('--jwks-file <path>', 'JWKS for in-service JWT verification').env('PHIGUARD_JWKS_FILE'))
    .addOption(new Option('--jwks-uri <url>', 'JWKS URL (cached)').env('PHIGUARD_JWKS_URI'))
    .addOption(new Option('--jwt-issuer <iss>', 'expected token issuer').env('PHIGUARD_JWT_ISSUER'))
    .addOption(
      new Option('--jwt-audience <aud>', 'accepted audience(s), comma-separated')
        .env('PHIGUARD_JWT_AUDIENCE')
        .argParser(list),
    )
    .addOption(
      new Option('--jwt-on-invalid <action>', 'deny | ignore a bearer token that fails verification').env(
        'PHIGUARD_JWT_ON_INVALID',
      ),
    )
    .addOption(
      new Option('--jwt-authn-payload-key <key>', 'jwt_authn payload_in_metadata key').env(
        'PHIGUARD_JWT_AUTHN_PAYLOAD_KEY',
      ),
    )
    .addOption(
      new Option(
        '--reload-settle-ms <ms>',
        'a changed policy dir, BAA registry, secret or JWKS file loads once unchanged this long (default 1000); ' +
          'renames and ConfigMap updates apply at once',
      ).env('PHIGUARD_RELOAD_SETTLE_MS'),
    )
    .addOption(new Option('--log-level <level>', 'operational log level (stderr)').env('PHIGUARD_LOG_LEVEL'))
    .addOption(new Option('--shutdown-grace-ms <ms>', 'drain time on SIGTERM').env('PHIGUARD_SHUTDOWN_GRACE_MS'))
    .addOption(new Option('--http2-window-bytes <n>', 'HTTP/2 receive window').env('PHIGUARD_HTTP2_WINDOW_BYTES'))
    .addOption(
      new Option('--http2-max-streams <n>', 'concurrent Checks per HTTP/2 connection (default 128)').env(
        'PHIGUARD_HTTP2_MAX_STREAMS',
      ),
    )
    .addOption(
      new Option(
        '--bulk-check-bytes <n>',
        'Checks of at least this size are decided on a second decision thread (default 262144; 0: off)',
      ).env('PHIGUARD_BULK_CHECK_BYTES'),
    )
    .addOption(
      new Option(
        '--proxy-audit <mode>',
        'record the decisions the proxy-wasm filter makes in Envoy (AccessLogService on the gRPC port): off ' +
          '(default), xfcc (reporters named by --proxy-audit-reporters, Istio) or network (any caller of the port)',
      )
        .choices(['off', 'xfcc', 'network'])
        .env('PHIGUARD_PROXY_AUDIT'),
    )
    .addOption(
      new Option(
        '--proxy-audit-reporters <spiffe-ids>',
        'with --proxy-audit xfcc: SPIFFE ids of the workloads whose proxies run the filter, comma-separated',
      )
        .env('PHIGUARD_PROXY_AUDIT_REPORTERS')
        .argParser(list),
    )
    .addOption(
      new Option('--envelope-dir <dir>', 'record behavioral envelopes here (one file per workload and replica)').env(
        'PHIGUARD_ENVELOPE_DIR',
      ),
    )
    .addOption(new Option('--envelope-flush-ms <ms>', 'envelope snapshot interval').env('PHIGUARD_ENVELOPE_FLUSH_MS'))
    .addOption(
      new Option('--replica <id>', 'replica id for envelope files (default: hostname-pid-start)').env(
        'PHIGUARD_REPLICA',
      ),
    )
    .option('--print-config', 'print the validated configuration (flags + PHIGUARD_* env) as JSON and exit')
    .action(async (opts: Record<string, unknown>) => {
      const { printConfig, ...rest } = opts;
      const defined = Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined));
      const parsed = ServerConfigSchema.safeParse(defined);
      if (!parsed.success) {
        for (const line of flagIssues(cmd, parsed.error.issues, defined))
          process.stderr.write(`phiguard serve: ${line}\n`);
        process.exitCode = 2;
        return;
      }
      const config = parsed.data;
      if (printConfig === true) {
        process.stdout.write(`${JSON.stringify(config, null, 2)}\n`);
        return;
      }
      const log = createLogger(config.logLevel);
      try {
        const server: AuthzService =
          config.decisions === 'thread'
            ? await startThreadedAuthzServer(config, {
                logger: log,
                // Every Check is already denied; exiting lets Kubernetes restart the pod (Envoy denies while it is
                // down).
                onFailure: () => {
                  setTimeout(() => process.exit(70), 100).unref();
                },
              })
            : await startAuthzServer(config, { logger: log });
        process.stderr.write(
          `\nphiguard ext_authz is listening on ${config.host}:${server.grpcPort} ` +
            '(gRPC: envoy.service.auth.v3.Authorization/Check, grpc.health.v1.Health)\n' +
            `  metrics/health: http://${config.host}:${server.metricsPort}/metrics  /healthz  /readyz\n` +
            `  audit records:  ${config.auditFile === '-' ? 'stdout' : config.auditFile} (JSON lines); operational logs: stderr\n` +
            `  try it:         npx phiguard call --addr ${config.host}:${server.grpcPort} examples/requests/*.json\n` +
            "  explain:        npx phiguard explain GET '/fhir/Encounter?patient=p-1001' --host fhir.hospital.internal " +
            `--principal spiffe://cluster.local/ns/scribe/sa/ambient-scribe --policies ${config.policies ?? '<dir>'} \\\n` +
            `                  --claims '{"sub":"Practitioner/dr-okafor","patient":"p-1001","encounter":"e-77"}'\n\n`,
        );
        const stop = (signal: string): void => {
          log.info({ signal }, 'draining');
          server.close().then(
            () => process.exit(0),
            () => process.exit(1),
          );
        };
        process.once('SIGTERM', () => stop('SIGTERM'));
        process.once('SIGINT', () => stop('SIGINT'));
        // logrotate's convention: after `mv audit.jsonl audit.jsonl.1`, SIGHUP continues in a new audit.jsonl.
        process.on('SIGHUP', () => {
          log.info({ signal: 'SIGHUP' }, 'reopening the audit trail');
          server.reopenAudit();
        });
      } catch (e) {
        if (isPhiguardError(e, 'startup')) {
          process.stderr.write(`phiguard serve: ${e.message}\n`);
          for (const f of e.findings) process.stderr.write(`  ${formatFinding(f)}\n`);
          process.exitCode = 1;
          return;
        }
        throw e;
      }
    });
  return describeDefaults(cmd, serveDefaults());
}
