/** `phiguard attest`: minimum-necessary attestation report. */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { formatFinding } from '../../authz/model/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { attest, attestationHtml, attestationMarkdown } from '../attest.js';
import { loadMergedEnvelopes } from './load-envelopes.js';

export function attestCommand(): Command {
  return new Command('attest')
    .description(
      'declared FHIR scope (policies) vs observed scope (envelopes): minimum-necessary evidence, 45 CFR 164.502(b)',
    )
    .requiredOption('--policies <dir>', 'agent policy directory')
    .requiredOption('--envelopes <paths...>', 'envelope files or directories')
    .addOption(new Option('--format <format>', 'report format').choices(['md', 'html', 'json']).default('md'))
    .option('--out <file>', 'write the report here instead of stdout')
    .option('--fail-on-outside', 'exit 1 if any agent accessed scope it was not provisioned for')
    .action(
      (opts: { policies: string; envelopes: string[]; format: string; out?: string; failOnOutside?: boolean }) => {
        const loaded = readPolicyDir(opts.policies);
        if (!loaded.ok) {
          for (const f of loaded.error.findings) process.stderr.write(`${formatFinding(f)}\n`);
          process.exitCode = 2;
          return;
        }
        const envs = loadMergedEnvelopes(opts.envelopes);
        const { set } = loaded.value;
        const results = set.agents.map((a) => {
          const wl = a.policy.spec.workload?.name ?? a.name;
          const ns =
            a.policy.spec.workload?.namespace ??
            a.selector.namespace ??
            (a.selector.principal !== undefined ? /\/ns\/([^/]+)\//.exec(a.selector.principal)?.[1] : undefined);
          const env = envs.find(
            (e) => e.spec.workload.name === wl && (ns === undefined || e.spec.workload.namespace === ns),
          );
          return attest(a.policy, env);
        });
        const meta = { policyVersion: set.version, generated: new Date().toISOString() };
        const text =
          opts.format === 'json'
            ? `${JSON.stringify({ ...meta, agents: results }, null, 2)}\n`
            : opts.format === 'html'
              ? attestationHtml(results, meta)
              : attestationMarkdown(results, meta);
        if (opts.out !== undefined) writeFileSync(opts.out, text);
        else process.stdout.write(text);
        if (opts.failOnOutside === true && results.some((r) => r.outside.length > 0)) process.exitCode = 1;
      },
    );
}
