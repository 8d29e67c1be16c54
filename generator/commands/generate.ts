/**
 * `phiguard generate cilium`: envelopes -> CiliumNetworkPolicy files, validated before they are written. Exit 0 when
 * every policy is valid and no finding is an error, 1 otherwise (policies still written), 2 on usage errors.
 * User documentation: docs/cilium.md.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { DEFAULT_INTERNAL_SUFFIXES, ServerConfigSchema } from '../../authz/index.js';
import { readBaaRegistry, type BaaRegistry } from '../../authz/egress/index.js';
import { toYaml } from '../../authz/config/index.js';
import { PhiguardError, type Finding } from '../../authz/model/index.js';
import {
  DEFAULT_EGRESS_GATEWAY_PORTS,
  DEFAULT_ISTIOD,
  MESH_MODES,
  generateCilium,
  loadCrdValidators,
  parsePodSelector,
  podSelectorText,
  validateCiliumPolicy,
  checkImportRules,
  type CrdValidator,
  type GenerateOptions,
  type MeshMode,
  type PodSelector,
} from '../cilium/index.js';
import { collect, list } from '../read-input.js';
import { loadKubeConfig } from '../../authz/kube/index.js';
import { withLiveWorkloads } from '../kube/index.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

/** `--findings-json`'s contract: severity, code, workload, message, evidence (the envelope field is not in it). */
function findingJson(f: Finding): Record<string, unknown> {
  const { severity, code, workload, message, evidence } = f;
  return evidence !== undefined
    ? { severity, code, workload, message, evidence }
    : { severity, code, workload, message };
}

interface Flags {
  envelopes: string[];
  out: string;
  baa?: string;
  ciliumCrd?: string[];
  at?: string;
  allowMetadata?: string[];
  clusterDomain: string;
  dnsPort: string;
  dnsSelector?: string;
  dnsSearch?: string[];
  internalDomains?: string[];
  internalCidrs?: string[];
  mesh: MeshMode;
  istiod?: string;
  istiodHost?: string;
  egressGateway?: string;
  egressGatewayPorts?: string[];
  ingress?: boolean;
  findingsJson?: string;
  fromCluster?: boolean;
  kubeconfig?: string;
  context?: string;
}

const port = z.coerce.number().int().min(1).max(65535);
const dnsDomain = z
  .string()
  .transform((s) => s.toLowerCase().replace(/^\.+|\.+$/g, ''))
  .pipe(z.string().regex(/^[a-z0-9_-]+(\.[a-z0-9_-]+)*$/, 'not a DNS domain'));

function selectorFlag(flag: string, text: string, needLabels: boolean): PodSelector {
  const r = parsePodSelector(text);
  if ('error' in r) throw new PhiguardError('usage', `${flag}: ${r.error} (expected NAMESPACE/key=value,...)`);
  if (needLabels && Object.keys(r.value.labels).length === 0)
    throw new PhiguardError('usage', `${flag}: give the pods' labels too (NAMESPACE/key=value), not a whole namespace`);
  return r.value;
}

function parsed<T>(flag: string, schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value);
  if (!r.success) throw new PhiguardError('usage', `${flag}: ${r.error.issues.map((i) => i.message).join('; ')}`);
  return r.data;
}

/** The flags as generator options; throws a `usage` PhiguardError (exit 2) for a flag that cannot be used. */
function optionsOf(opts: Flags, registry: BaaRegistry | undefined, at: Date): GenerateOptions {
  const dnsPort = parsed('--dns-port', port, opts.dnsPort);
  if (dnsPort !== 53 && opts.dnsSelector === undefined)
    throw new PhiguardError(
      'usage',
      `--dns-port ${dnsPort} needs --dns-selector: the default selector is kube-dns in kube-system, which serves 53 (OpenShift: --dns-selector openshift-dns/dns.operator.openshift.io/daemonset-dns=default)`,
    );
  if (opts.egressGateway !== undefined && opts.mesh === 'none')
    throw new PhiguardError(
      'usage',
      '--egress-gateway routes through Istio sidecars; it cannot be used with --mesh none',
    );
  if (opts.egressGatewayPorts !== undefined && opts.egressGateway === undefined)
    throw new PhiguardError('usage', '--egress-gateway-ports needs --egress-gateway');
  const out: GenerateOptions = {
    registry,
    at,
    clusterDomain: parsed('--cluster-domain', dnsDomain, opts.clusterDomain),
    dnsPort,
    dnsSearch: parsed('--dns-search', z.array(dnsDomain), opts.dnsSearch ?? []),
    internalDomains: parsed(
      '--internal-domains',
      ServerConfigSchema.shape.internalDomains,
      opts.internalDomains ?? [...DEFAULT_INTERNAL_SUFFIXES],
    ) ?? [...DEFAULT_INTERNAL_SUFFIXES],
    internalCidrs: parsed('--internal-cidrs', ServerConfigSchema.shape.internalCidrs, opts.internalCidrs ?? []) ?? [],
    mesh: opts.mesh,
    allowMetadata: opts.allowMetadata ?? [],
    ingress: opts.ingress === true,
  };
  if (opts.dnsSelector !== undefined) out.dnsSelector = selectorFlag('--dns-selector', opts.dnsSelector, false);
  if (opts.istiod !== undefined || opts.istiodHost !== undefined)
    out.istiod = {
      selector: opts.istiod !== undefined ? selectorFlag('--istiod', opts.istiod, true) : DEFAULT_ISTIOD.selector,
      host: parsed('--istiod-host', dnsDomain, opts.istiodHost ?? DEFAULT_ISTIOD.host),
    };
  if (opts.egressGateway !== undefined)
    out.egressGateway = {
      selector: selectorFlag('--egress-gateway', opts.egressGateway, true),
      ports: parsed(
        '--egress-gateway-ports',
        z.array(port).min(1).max(40),
        opts.egressGatewayPorts ?? [...DEFAULT_EGRESS_GATEWAY_PORTS],
      ),
    };
  return out;
}

export function generateCommand(): Command {
  const cmd = new Command('generate').description('generate enforcement config from recorded behavior');
  cmd
    .command('cilium')
    .description(
      'one CiliumNetworkPolicy per workload from recorded envelopes (docs/cilium.md); exit 1 on an invalid policy or an error finding',
    )
    .requiredOption('--envelopes <paths...>', 'envelope files or directories (replicas are merged per workload)')
    .requiredOption('--out <dir>', 'output directory')
    .option('--baa <file>', 'BAA registry; without it no outside endpoint is allowed')
    .option(
      '--cilium-crd <file>',
      'the CRD of the Cilium version you run (kubectl get crd ciliumnetworkpolicies.cilium.io -o yaml); repeatable',
      collect,
    )
    .option('--at <time>', 'evaluate BAA coverage at this time (default now)')
    .option(
      '--allow-metadata <exception>',
      'honour a recorded metadata-endpoint exception, e.g. eks-pod-identity',
      collect,
    )
    .option('--cluster-domain <domain>', 'cluster DNS domain', 'cluster.local')
    .option('--dns-port <port>', 'cluster DNS backend port (5353 on OpenShift; needs --dns-selector)', '53')
    .option(
      '--dns-selector <ns/labels>',
      'cluster DNS pods, NAMESPACE[/key=value,...] (default kube-system/k8s-app=kube-dns)',
    )
    .option(
      '--dns-search <domains>',
      'search domains beyond the cluster ones, as in the pods resolv.conf (node domains), comma-separated',
      list,
    )
    .addOption(
      new Option(
        '--internal-domains <suffixes>',
        `internal host suffixes, comma-separated, as serve (default ${DEFAULT_INTERNAL_SUFFIXES.join(',')})`,
      )
        .env('PHIGUARD_INTERNAL_DOMAINS')
        .argParser(list),
    )
    .addOption(
      new Option(
        '--internal-cidrs <blocks>',
        'address blocks whose IP literals are internal, comma-separated, as serve (default none)',
      )
        .env('PHIGUARD_INTERNAL_CIDRS')
        .argParser(list),
    )
    .addOption(
      new Option(
        '--mesh <mode>',
        'Istio sidecars: auto (pod labels or a SPIFFE principal), istio (every workload), none',
      )
        .choices([...MESH_MODES])
        .default('auto'),
    )
    .option('--istiod <ns/labels>', `istiod pods (default ${podSelectorText(DEFAULT_ISTIOD.selector)})`)
    .option('--istiod-host <name>', `the istiod name sidecars resolve (default ${DEFAULT_ISTIOD.host})`)
    .option(
      '--egress-gateway <ns/labels>',
      'outside traffic only to these gateway pods, e.g. istio-egress/istio=egressgateway (no toFQDNs)',
    )
    .option(
      '--egress-gateway-ports <ports>',
      `the gateway pods' listener ports, comma-separated (default ${DEFAULT_EGRESS_GATEWAY_PORTS.join(',')})`,
      list,
    )
    .option('--ingress', 'default-deny ingress, allowing the callers recorded in the other envelopes')
    .option('--findings-json <file>', 'also write findings as JSON')
    .option('--from-cluster', "take each workload's pod selector and service account from the live object")
    .option('--kubeconfig <file>', 'with --from-cluster: kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'with --from-cluster: kubeconfig context')
    .action(async (opts: Flags) => {
      let envs = loadMergedEnvelopes(opts.envelopes);
      let unconfirmed = 0;
      if (opts.fromCluster === true) {
        const live = await withLiveWorkloads(loadKubeConfig(opts.kubeconfig, opts.context), envs);
        envs = live.envelopes;
        for (const c of live.changes) process.stderr.write(`from cluster: ${c}\n`);
        for (const p of live.problems) process.stderr.write(`error: from cluster: ${p}\n`);
        unconfirmed = live.problems.length;
      }
      let registry: BaaRegistry | undefined;
      if (opts.baa !== undefined) {
        const r = readBaaRegistry(opts.baa);
        if (!r.ok) throw r.error;
        registry = r.value;
      }
      const at = opts.at !== undefined ? new Date(opts.at) : new Date();
      if (Number.isNaN(at.getTime())) throw new PhiguardError('usage', `--at: not a time: ${opts.at ?? ''}`);
      const options = optionsOf(opts, registry, at);
      // An unusable CRD throws a PhiguardError naming the file: exit 2.
      const validators: Record<string, CrdValidator> = loadCrdValidators(opts.ciliumCrd ?? []);
      const result = generateCilium(envs, options);
      mkdirSync(opts.out, { recursive: true });
      let invalid = 0;
      for (const p of result.policies) {
        const file = path.join(opts.out, `${p.namespace}.${p.name}.yaml`);
        const problems =
          Object.keys(validators).length > 0
            ? validateCiliumPolicy(p.policy, validators, file)
            : checkImportRules(p.policy, file);
        if (problems.length > 0) {
          invalid++;
          for (const x of problems) process.stderr.write(`INVALID ${p.namespace}/${p.name} ${x.path}: ${x.message}\n`);
          continue;
        }
        writeFileSync(file, toYaml(p.policy, 200));
        process.stdout.write(`${file}\n`);
      }
      if (Object.keys(validators).length === 0)
        process.stderr.write('note: no --cilium-crd given; checked the agent import rules only, not the CRD schema\n');
      for (const f of result.findings)
        process.stderr.write(`${f.severity} ${f.code} ${f.workload ?? ''}: ${f.message}\n`);
      if (opts.findingsJson !== undefined)
        writeFileSync(opts.findingsJson, `${JSON.stringify(result.findings.map(findingJson), null, 2)}\n`);
      const errors = result.findings.filter((f) => f.severity === 'error').length;
      if (errors > 0)
        process.stderr.write(
          `${errors} error finding(s): recorded traffic the generated policies do not allow (exit 1)\n`,
        );
      if (invalid > 0 || errors > 0 || unconfirmed > 0) process.exitCode = 1;
    });
  return cmd;
}
