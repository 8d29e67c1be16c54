/** `phiguard check PATH...`: the CI gate for mesh, Cilium, Kubernetes and phiguard configuration. */
import { Command, Option } from 'commander';
import { loadCrdValidators, type CrdValidator } from '../cilium/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import {
  CHECK_LEVELS,
  formatJson,
  formatSarif,
  formatText,
  LEVEL_RANK,
  readBaseline,
  readManifests,
  runCheckReport,
  type Baseline,
  type CheckLevel,
} from '../check/index.js';
import { currentNamespace, loadKubeConfig } from '../../authz/kube/index.js';
import { policyReportOutput, readClusterInputs, type ClusterInputs } from '../kube/index.js';
import { collect, list } from '../read-input.js';

export function checkCommand(): Command {
  return new Command('check')
    .description(
      'lint manifests (plain YAML, rendered Helm/Kustomize), Envoy and Istio config, and phiguard policy in CI; exit 0 clean, 1 findings, 2 usage',
    )
    .argument('[paths...]', 'files, folders, or - for stdin (none with --cluster)')
    .addOption(new Option('--format <format>', 'output format').choices(['text', 'json', 'sarif']).default('text'))
    .option('--cluster', 'check the live objects of the cluster (kubeconfig or in-cluster) instead of files')
    .option('-n, --namespaces <list>', 'with --cluster: namespaces to read (comma-separated; default: all)', list)
    .option('--kubeconfig <file>', 'with --cluster: kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'with --cluster: kubeconfig context')
    .option('--istio-root-namespace <ns>', "with --cluster: Istio's root namespace (mesh config)", 'istio-system')
    .addOption(
      new Option(
        '--policy-reports <mode>',
        'with --cluster: wgpolicyk8s.io PolicyReports per namespace; auto: server-side apply when the CRD is served, else print',
      )
        .choices(['auto', 'print', 'none'])
        .default('auto'),
    )
    .addOption(
      new Option('--fail-on <severity>', 'lowest severity that fails the run')
        .choices(['error', 'warning', 'note'])
        .default('error'),
    )
    .option('--baa <file>', 'BAA registry (checks toFQDNs coverage)')
    .option('--policies <dir>', 'phiguard agent policies (load, type-check, and every agent has one)')
    .option(
      '--cilium-crd <file>',
      'CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy CRD of your Cilium version (repeatable)',
      collect,
    )
    .option('--agent-selector <label=value>', 'pod label that marks an agent workload', 'phiguard.io/agent=true')
    .option('--agent-namespaces <list>', 'namespaces whose workloads are all agents (comma-separated)', '')
    .option('--trust-domain <td>', 'SPIFFE trust domain for matching agents to policies', 'cluster.local')
    .option('--at <time>', 'evaluate BAA coverage at this time (default now)')
    .option('--baseline <file>', 'accepted findings (CheckBaseline YAML: rule, file and/or object, reason)')
    .option(
      '--docs-url <url>',
      'where docs/check.md is published, for SARIF helpUri (default: the local docs/check.md)',
    )
    .action(
      async (
        paths: string[],
        opts: {
          format: string;
          failOn: CheckLevel;
          baa?: string;
          policies?: string;
          ciliumCrd?: string[];
          agentSelector: string;
          agentNamespaces: string;
          trustDomain: string;
          at?: string;
          baseline?: string;
          docsUrl?: string;
          cluster?: boolean;
          namespaces?: string[];
          kubeconfig?: string;
          context?: string;
          istioRootNamespace: string;
          policyReports: 'auto' | 'print' | 'none';
        },
      ) => {
        if (opts.cluster === true && paths.length > 0)
          throw new PhiguardError('usage', 'give paths or --cluster, not both');
        if (opts.cluster !== true && paths.length === 0)
          throw new PhiguardError('usage', 'give paths to check, or --cluster');
        const now = opts.at !== undefined ? new Date(opts.at) : new Date();
        if (Number.isNaN(now.getTime())) throw new PhiguardError('usage', `--at: not a time: ${opts.at ?? ''}`);
        const sel = /^([^=]+)=(.*)$/.exec(opts.agentSelector);
        if (!sel?.[1] || sel[2] === undefined) throw new PhiguardError('usage', '--agent-selector must be label=value');
        if (opts.docsUrl !== undefined && !URL.canParse(opts.docsUrl))
          throw new PhiguardError('usage', `--docs-url: not an absolute URL: ${opts.docsUrl}`);
        let baseline: { file: string; value: Baseline } | undefined;
        if (opts.baseline !== undefined) {
          const b = readBaseline(opts.baseline);
          if (!b.ok) throw b.error;
          baseline = { file: opts.baseline, value: b.value };
        }
        // An unusable CRD throws a PhiguardError naming the file: exit 2.
        const validators: Record<string, CrdValidator> = loadCrdValidators(opts.ciliumCrd ?? []);
        const kc = opts.cluster === true ? loadKubeConfig(opts.kubeconfig, opts.context) : undefined;
        let cluster: ClusterInputs | undefined;
        if (kc !== undefined) {
          try {
            cluster = await readClusterInputs(kc, opts.namespaces, opts.istioRootNamespace);
          } catch (e) {
            throw new PhiguardError('io', `cannot read the cluster: ${e instanceof Error ? e.message : String(e)}`);
          }
        }
        const { docs, problems } = cluster ? { docs: cluster.docs, problems: [] } : readManifests(paths);
        if (problems.length > 0) {
          for (const p of problems) process.stderr.write(`${p.file}:${p.line ?? 0}: ${p.message}\n`);
          process.exitCode = 2;
          return;
        }
        const { findings, notes: baselineNotes } = runCheckReport(docs, {
          validators,
          ...(opts.baa !== undefined ? { baaFile: opts.baa } : {}),
          ...(opts.policies !== undefined ? { policiesDir: opts.policies } : {}),
          ...(opts.policies === undefined && cluster?.policySet ? { policySet: cluster.policySet } : {}),
          ...(kc !== undefined ? { defaultNamespace: currentNamespace(kc) } : {}),
          agentSelector: { [sel[1]]: sel[2] },
          agentNamespaces: opts.agentNamespaces
            .split(',')
            .map((s) => s.trim())
            .filter(Boolean),
          trustDomain: opts.trustDomain,
          now,
          ...(baseline ? { baseline } : {}),
        });
        if (cluster && opts.policies === undefined) findings.push(...cluster.policyErrors);
        const notes: string[] = [...baselineNotes, ...(cluster?.notes ?? [])];
        if (Object.keys(validators).length === 0)
          notes.push('no --cilium-crd: CIL010/CIL011 (CRD schema, unknown fields) not checked');
        if (opts.baa === undefined) notes.push('no --baa: CIL005 (FQDN BAA coverage) not checked');
        if (opts.policies === undefined && cluster?.policySet === undefined && cluster?.policyErrors.length !== 0)
          notes.push('no --policies: PHG001/PHG003 not checked');
        const out =
          opts.format === 'json'
            ? formatJson(findings, notes)
            : opts.format === 'sarif'
              ? formatSarif(findings, { version: '0.1.0', docsUrl: opts.docsUrl })
              : formatText(findings, notes);
        process.stdout.write(out);
        if (kc !== undefined && cluster !== undefined && opts.policyReports !== 'none')
          process.stdout.write(
            await policyReportOutput(kc, findings, cluster, { mode: opts.policyReports, format: opts.format, now }),
          );
        if (findings.some((f) => !f.suppression && LEVEL_RANK[CHECK_LEVELS[f.severity]] >= LEVEL_RANK[opts.failOn]))
          process.exitCode = 1;
      },
    );
}
