/**
 * `phiguard generate wasm-config`: the decision program for the proxy-wasm filter (docs/wasm.md), from the agent
 * policies, for the WasmPlugin's `pluginConfig` (or the Envoy bootstrap's plugin `configuration`).
 */
import { writeFileSync } from 'node:fs';
import { Command, Option } from 'commander';
import { z } from 'zod';
import { formatFinding } from '../../authz/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { buildWasmProgram, DEFAULT_DEFER_HEADERS } from '../wasm/index.js';
import { collect } from '../read-input.js';
import { addDecisionSourceOptions, explainSources } from './explain.js';

const OptionsSchema = z.object({
  policies: z.string().min(1),
  out: z.string().min(1).optional(),
  fhirBase: z.array(z.string()).default(['/fhir']),
  authzCluster: z.string().regex(/^[^\t\n\r]+$/, 'an Envoy cluster name'),
  timeoutMs: z.coerce.number().int().min(1).max(60000).default(200),
  allowInProxy: z.boolean().default(false),
  host: z.array(z.string().regex(/^[^\t\n\r\s]+$/)).default([]),
  deferHeader: z.array(z.string().regex(/^[a-z0-9-]+$/i)).default([]),
  format: z.enum(['text', 'plugin-config-json']).default('text'),
  deferTo: z.enum(['callout', 'next-filter']).default('callout'),
});

const kebab = (s: string): string => s.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function wasmConfigCommand(): Command {
  return addDecisionSourceOptions(new Command('wasm-config'))
    .description('the proxy-wasm filter decision program from the agent policies (docs/wasm.md)')
    .addOption(new Option('--policies <dir>', 'agent policy directory').env('PHIGUARD_POLICIES').makeOptionMandatory())
    .requiredOption('--authz-cluster <name>', 'Envoy cluster of the phiguard ext_authz service (gRPC)')
    .option('--timeout-ms <ms>', 'deadline of the Check call for deferred requests', '200')
    .option('--host <authority>', ':authority to decide for besides the hosts the rules name (repeatable)', collect)
    .option('--defer-header <name>', 'a header (besides authorization) that sends a request to the service', collect)
    .option(
      '--defer-to <where>',
      "callout (default): the filter Checks a deferred request itself; next-filter: it goes on to Envoy's ext_authz " +
        'filter after the filter (body and jwt_authn claims included; no --allow-in-proxy)',
    )
    .option('--allow-in-proxy', 'also answer ALLOW in the proxy (recorded from the access log, after the fact)')
    .option(
      '--format <format>',
      'text (an Envoy StringValue configuration) or plugin-config-json ({"program": ...}, an Istio WasmPlugin pluginConfig)',
      'text',
    )
    .option('--out <file>', 'write the program here (default stdout)')
    .action(async (opts: Record<string, unknown>) => {
      const parsed = OptionsSchema.safeParse(opts);
      if (!parsed.success)
        throw new PhiguardError(
          'usage',
          parsed.error.issues.map((i) => `--${kebab(String(i.path[0]))}: ${i.message}`).join('; '),
        );
      const o = parsed.data;
      if (o.deferTo === 'next-filter' && o.allowInProxy)
        throw new PhiguardError(
          'usage',
          '--allow-in-proxy with --defer-to next-filter: an in-proxy allow would go on to ext_authz and be Checked again',
        );
      const loaded = readPolicyDir(o.policies);
      if (!loaded.ok) {
        for (const f of loaded.error.findings) process.stderr.write(`${formatFinding(f)}\n`);
        process.exitCode = 2;
        return;
      }
      const program = await buildWasmProgram(loaded.value.set, {
        fhirBasePaths: o.fhirBase,
        authzCluster: o.authzCluster,
        timeoutMs: o.timeoutMs,
        allowInProxy: o.allowInProxy,
        hosts: o.host,
        deferHeaders: [...DEFAULT_DEFER_HEADERS, ...o.deferHeader],
        deferTo: o.deferTo,
        sources: explainSources(opts as Record<string, string | string[] | undefined>),
      });
      for (const e of program.excluded) process.stderr.write(`phiguard: agent ${e.agent} is deferred: ${e.why}\n`);
      process.stderr.write(
        `phiguard: policy ${program.policyVersion}, ${program.cells} in-proxy cells, ${program.text.length} bytes\n`,
      );
      const out = o.format === 'text' ? program.text : `${JSON.stringify({ program: program.text })}\n`;
      if (o.out !== undefined) writeFileSync(o.out, out);
      else process.stdout.write(out);
    });
}
