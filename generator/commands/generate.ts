/** `phiguard generate cilium`: envelopes -> CiliumNetworkPolicy files, validated before they are written. */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Command } from 'commander';
import yaml from 'js-yaml';
import { readBaaRegistry, type BaaRegistry } from '../../authz/egress/index.js';
import { PhiguardError, type Finding } from '../../authz/model/index.js';
import {
  generateCilium,
  loadCrdValidators,
  validateCiliumPolicy,
  checkImportRules,
  type CrdValidator,
} from '../cilium/index.js';
import { collect } from '../read-input.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

/** `--findings-json`'s contract: severity, code, workload, message, evidence (the envelope field is not in it). */
function findingJson(f: Finding): Record<string, unknown> {
  const { severity, code, workload, message, evidence } = f;
  return evidence !== undefined
    ? { severity, code, workload, message, evidence }
    : { severity, code, workload, message };
}

export function generateCommand(): Command {
  const cmd = new Command('generate').description('generate enforcement config from recorded behavior');
  cmd
    .command('cilium')
    .description(
      'one CiliumNetworkPolicy per workload: BAA-covered FQDN egress + DNS rule, in-cluster peers, L7 HTTP, metadata and API-server denies',
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
    .option('--dns-port <port>', 'cluster DNS backend port (5353 on OpenShift)', '53')
    .option('--findings-json <file>', 'also write findings as JSON')
    .action(
      (opts: {
        envelopes: string[];
        out: string;
        baa?: string;
        ciliumCrd?: string[];
        at?: string;
        allowMetadata?: string[];
        clusterDomain: string;
        dnsPort: string;
        findingsJson?: string;
      }) => {
        const envs = loadMergedEnvelopes(opts.envelopes);
        let registry: BaaRegistry | undefined;
        if (opts.baa !== undefined) {
          const r = readBaaRegistry(opts.baa);
          if (!r.ok) throw r.error;
          registry = r.value;
        }
        const at = opts.at !== undefined ? new Date(opts.at) : new Date();
        if (Number.isNaN(at.getTime())) throw new PhiguardError('usage', `--at: not a time: ${opts.at ?? ''}`);
        // An unusable CRD throws a PhiguardError naming the file: exit 2.
        const validators: Record<string, CrdValidator> = loadCrdValidators(opts.ciliumCrd ?? []);
        const result = generateCilium(envs, {
          registry,
          at,
          clusterDomain: opts.clusterDomain,
          dnsPort: Number(opts.dnsPort),
          allowMetadata: opts.allowMetadata ?? [],
        });
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
            for (const x of problems)
              process.stderr.write(`INVALID ${p.namespace}/${p.name} ${x.path}: ${x.message}\n`);
            continue;
          }
          writeFileSync(file, yaml.dump(p.policy, { lineWidth: 200, noRefs: true, quotingType: '"' }));
          process.stdout.write(`${file}\n`);
        }
        if (Object.keys(validators).length === 0)
          process.stderr.write(
            'note: no --cilium-crd given; checked the agent import rules only, not the CRD schema\n',
          );
        for (const f of result.findings)
          process.stderr.write(`${f.severity} ${f.code} ${f.workload ?? ''}: ${f.message}\n`);
        if (opts.findingsJson !== undefined)
          writeFileSync(opts.findingsJson, `${JSON.stringify(result.findings.map(findingJson), null, 2)}\n`);
        if (invalid > 0) process.exitCode = 1;
      },
    );
  return cmd;
}
