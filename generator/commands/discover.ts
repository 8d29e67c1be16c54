/**
 * `phiguard discover`: the inventory of AI agent workloads in a cluster, read with the user's kubeconfig or the
 * pod's service account (list only). Exit 0 with the inventory (gaps are shown, not failed on), 2 on usage errors or
 * a cluster that cannot be read. User documentation: docs/kubernetes.md.
 */
import { Command, Option } from 'commander';
import { PhiguardError } from '../../authz/model/index.js';
import { loadKubeConfig } from '../../authz/kube/index.js';
import { agentInventory, DISCOVER_KINDS, inventoryTable, listKinds } from '../kube/index.js';
import { collect, list } from '../read-input.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

interface Flags {
  format: 'table' | 'json';
  namespaces?: string[];
  agentSelector: string;
  envelopes?: string[];
  trustDomain: string;
  istioRootNamespace: string;
  kubeconfig?: string;
  context?: string;
}

export function discoverCommand(): Command {
  return new Command('discover')
    .description(
      'inventory of AI agent workloads in the cluster: service accounts, RBAC reaching them, AgentPolicy, CiliumNetworkPolicy, mTLS mode',
    )
    .addOption(new Option('--format <format>', 'output format').choices(['table', 'json']).default('table'))
    .option('-n, --namespaces <list>', 'namespaces to read (comma-separated, repeatable; default: all)', list)
    .option(
      '--agent-selector <key=value>',
      'label or annotation that marks an agent workload',
      'phiguard.io/agent=true',
    )
    .option(
      '--envelopes <dir>',
      'recorded envelopes: workloads calling a model API count as agents (repeatable)',
      collect,
    )
    .option('--trust-domain <td>', 'SPIFFE trust domain, for matching AgentPolicies', 'cluster.local')
    .option('--istio-root-namespace <ns>', "Istio's root namespace (mesh-wide PeerAuthentication)", 'istio-system')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .action(async (flags: Flags) => {
      const sel = /^([^=]+)=(.*)$/.exec(flags.agentSelector);
      if (!sel?.[1] || sel[2] === undefined) throw new PhiguardError('usage', '--agent-selector must be key=value');
      const envelopes = loadMergedEnvelopes(flags.envelopes ?? []);
      const kc = loadKubeConfig(flags.kubeconfig, flags.context);
      const lists = await listKinds(kc, DISCOVER_KINDS, flags.namespaces);
      const workloads = lists.filter((l) => l.kind.kind === 'Deployment' || l.kind.kind === 'StatefulSet');
      if (workloads.every((l) => l.missing !== undefined))
        throw new PhiguardError(
          'io',
          `cannot list workloads: ${workloads.map((l) => `${l.kind.kind}: ${l.missing ?? ''}`).join('; ')}`,
        );
      const rows = agentInventory(lists, {
        agentSelector: { [sel[1]]: sel[2] },
        trustDomain: flags.trustDomain,
        istioRootNamespace: flags.istioRootNamespace,
        envelopes,
      });
      const notes = lists
        .filter((l) => l.missing !== undefined)
        .map((l) => `${l.kind.kind} (${l.kind.apiVersion}) not read: ${l.missing ?? ''}`);
      if (flags.format === 'json') {
        process.stdout.write(`${JSON.stringify({ workloads: rows, notes }, null, 2)}\n`);
        return;
      }
      process.stdout.write(rows.length > 0 ? inventoryTable(rows) : 'no agent workloads found\n');
      for (const n of notes) process.stdout.write(`note: ${n}\n`);
    });
}
