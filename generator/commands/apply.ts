/**
 * `phiguard apply PATH...`: server-side apply of the policies phiguard generates (CiliumNetworkPolicies from
 * `generate cilium`, AgentPolicies from policy files) as field manager `phiguard`, with a readable diff against
 * what is in the cluster. Nothing `phiguard check` rejects is applied, and nothing is written unless the API server
 * accepts every object in a dry run first. Exit 0 applied (or would apply), 1 refused (check findings, a conflict,
 * an object the API server rejects), 2 usage, unreadable input or an unreachable cluster.
 * User documentation: docs/kubernetes.md.
 */
import { Command, Option } from 'commander';
import type { KubernetesObject } from '@kubernetes/client-node';
import { PhiguardError } from '../../authz/model/index.js';
import { compileAgentPolicies, currentNamespace, loadKubeConfig } from '../../authz/kube/index.js';
import {
  CHECK_LEVELS,
  formatText,
  LEVEL_RANK,
  readManifests,
  runCheckReport,
  type CheckFinding,
} from '../check/index.js';
import { loadCrdValidators } from '../cilium/index.js';
import { applyItems, formatChanges, serverSideApply, FIELD_MANAGER } from '../kube/index.js';
import { collect } from '../read-input.js';

interface Flags {
  dryRun: 'none' | 'server';
  forceConflicts?: boolean;
  kubeconfig?: string;
  context?: string;
  namespace?: string;
  ciliumCrd?: string[];
  baa?: string;
  fieldManager: string;
}

/** The check findings that refuse the set: every unsuppressed error of `check`, and every AgentPolicy error. */
function refusals(
  docs: Parameters<typeof runCheckReport>[0],
  objects: KubernetesObject[],
  flags: Flags,
): CheckFinding[] {
  const { findings } = runCheckReport(docs, {
    validators: loadCrdValidators(flags.ciliumCrd ?? []),
    ...(flags.baa !== undefined ? { baaFile: flags.baa } : {}),
  });
  const out = findings.filter((f) => !f.suppression && LEVEL_RANK[CHECK_LEVELS[f.severity]] >= LEVEL_RANK.error);
  const policies = objects.filter((o) => o.kind === 'AgentPolicy');
  if (policies.length > 0) {
    const compiled = compileAgentPolicies(policies);
    if (!compiled.ok)
      for (const f of compiled.error.findings)
        if (f.severity === 'error')
          out.push({ ...f, code: 'PHG001', line: f.line ?? 1, message: `${f.code}: ${f.message}` });
  }
  return out;
}

export function applyCommand(): Command {
  return new Command('apply')
    .description(
      'server-side apply generated CiliumNetworkPolicies and AgentPolicies (field manager phiguard), with a diff; refuses what check rejects; exit 0 applied, 1 refused, 2 usage',
    )
    .argument(
      '<paths...>',
      'files or folders of generated policies (generate cilium output, policy files), - for stdin',
    )
    .addOption(
      new Option('--dry-run <mode>', 'server: the API server validates and answers, nothing is stored')
        .choices(['none', 'server'])
        .default('none'),
    )
    .option('--force-conflicts', 'take over fields another field manager owns (409 otherwise)')
    .option('--kubeconfig <file>', 'kubeconfig (default: $KUBECONFIG, ~/.kube/config, in-cluster)')
    .option('--context <name>', 'kubeconfig context')
    .option('-n, --namespace <ns>', "namespace for namespaced objects that name none (default: the context's)")
    .option('--cilium-crd <file>', 'CiliumNetworkPolicy CRD of your Cilium version, for check (repeatable)', collect)
    .option('--baa <file>', 'BAA registry, for check (toFQDNs coverage)')
    .option('--field-manager <name>', 'server-side apply field manager', FIELD_MANAGER)
    .action(async (paths: string[], flags: Flags) => {
      const { docs, problems } = readManifests(paths);
      if (problems.length > 0) {
        for (const p of problems) process.stderr.write(`${p.file}:${p.line ?? 0}: ${p.message}\n`);
        process.exitCode = 2;
        return;
      }
      if (docs.length === 0) throw new PhiguardError('usage', 'nothing to apply');
      const kc = loadKubeConfig(flags.kubeconfig, flags.context);
      const { items, problems: unusable } = applyItems(docs, flags.namespace ?? currentNamespace(kc));
      if (unusable.length > 0) throw new PhiguardError('usage', unusable.join('\n'));
      const refused = refusals(
        docs,
        items.map((i) => i.object),
        flags,
      );
      if (refused.length > 0) {
        process.stderr.write(formatText(refused, []));
        process.stderr.write(`phiguard apply: refused, check rejects ${refused.length} finding(s); nothing applied\n`);
        process.exitCode = 1;
        return;
      }
      let outcome;
      try {
        outcome = await serverSideApply(kc, items, {
          dryRun: flags.dryRun === 'server',
          force: flags.forceConflicts === true,
          fieldManager: flags.fieldManager,
        });
      } catch (e) {
        throw new PhiguardError('io', `cannot reach the cluster: ${e instanceof Error ? e.message : String(e)}`);
      }
      const suffix = flags.dryRun === 'server' ? ' (server dry run)' : outcome.written ? '' : ' (not applied)';
      for (const r of outcome.results) {
        if (r.error) {
          process.stdout.write(`${r.name}: failed${suffix}: ${r.error.message}\n`);
          continue;
        }
        process.stdout.write(`${r.name}: ${r.outcome}${suffix}\n`);
        process.stdout.write(formatChanges(r.changes));
      }
      if (outcome.results.some((r) => r.error)) {
        if (!outcome.written)
          process.stderr.write('phiguard apply: the API server refused an object; nothing applied\n');
        process.exitCode = 1;
      }
    });
}
