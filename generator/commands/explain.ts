/** `phiguard explain`: derived attributes and decision trace for one request, as JSON. */
import { Command, Option } from 'commander';
import { z } from 'zod';
import {
  CheckInputSchema,
  ClaimsConfigSchema,
  createClaimsResolver,
  formatFinding,
  readBaaRegistry,
  ServerConfigSchema,
  type BaaRegistry,
  type CheckInput,
} from '../../authz/index.js';
import { PhiguardError } from '../../authz/model/index.js';
import { readPolicyDir } from '../../authz/policy/index.js';
import { checkInputFor, explain, toJson, type ExplainSources } from '../explain/index.js';
import { readArg, collect, list, readJsonArg, readJsonFile } from '../read-input.js';

const FLAG_OF: Readonly<Record<string, string>> = {
  trustDomain: 'trust-domain',
  internalDomains: 'internal-domains',
  internalCidrs: 'internal-cidrs',
};

/** The BAA registry, trust domain, internal domains and blocks, validated as `serve` validates them. */
export function explainSources(opts: Record<string, string | string[] | undefined>): ExplainSources {
  const registryFile = opts['baaRegistry'];
  let baa: BaaRegistry | undefined;
  if (typeof registryFile === 'string') {
    const r = readBaaRegistry(registryFile);
    if (!r.ok) throw r.error;
    baa = r.value;
  }
  const schema = z.object({
    trustDomain: ServerConfigSchema.shape.trustDomain,
    internalDomains: ServerConfigSchema.shape.internalDomains,
    internalCidrs: ServerConfigSchema.shape.internalCidrs,
  });
  const parsed = schema.safeParse({
    trustDomain: opts['trustDomain'],
    internalDomains: opts['internalDomains'],
    internalCidrs: opts['internalCidrs'],
  });
  if (!parsed.success)
    throw new PhiguardError(
      'usage',
      parsed.error.issues
        // serve's messages name the flag themselves where they do (`--internal-cidrs / PHIGUARD_INTERNAL_CIDRS: …`).
        .map((i) =>
          i.message.startsWith('--') ? i.message : `--${FLAG_OF[String(i.path[0])] ?? String(i.path[0])}: ${i.message}`,
        )
        .join('; '),
    );
  return {
    baa,
    trustDomain: parsed.data.trustDomain,
    internalSuffixes: parsed.data.internalDomains,
    internalCidrs: parsed.data.internalCidrs,
  };
}

/**
 * The options that say what `serve` decides on besides the policies (FHIR base, BAA registry, trust domain, internal
 * domains and blocks), with serve's environment variables: `explain` and `test` decide as the service would.
 */
export function addDecisionSourceOptions(cmd: Command): Command {
  return cmd
    .addOption(
      new Option('--fhir-base <paths>', 'FHIR base path(s), comma-separated (default /fhir)')
        .env('PHIGUARD_FHIR_BASE')
        .argParser(list),
    )
    .addOption(
      new Option('--baa-registry <file>', 'BAA registry, as serve reads it (without it, outside egress is denied)').env(
        'PHIGUARD_BAA_REGISTRY',
      ),
    )
    .addOption(
      new Option('--trust-domain <domain>', 'mesh SPIFFE trust domain, as serve (default cluster.local)').env(
        'PHIGUARD_TRUST_DOMAIN',
      ),
    )
    .addOption(
      new Option('--internal-domains <suffixes>', 'internal host suffixes, comma-separated, as serve')
        .env('PHIGUARD_INTERNAL_DOMAINS')
        .argParser(list),
    )
    .addOption(
      new Option('--internal-cidrs <blocks>', 'CIDR blocks whose IP literals are internal, comma-separated, as serve')
        .env('PHIGUARD_INTERNAL_CIDRS')
        .argParser(list),
    );
}

export function explainCommand(): Command {
  return addDecisionSourceOptions(new Command('explain'))
    .description('print the attributes CEL sees and the decision trace for one request (JSON)')
    .argument('[method]', 'HTTP method, e.g. GET')
    .argument('[path]', "raw path with query, e.g. '/fhir/Observation?patient=123'")
    .addOption(new Option('--policies <dir>', 'agent policy directory').env('PHIGUARD_POLICIES').makeOptionMandatory())
    .option('--principal <spiffe>', 'caller mesh identity', '')
    .option('-H, --header <header>', "request header 'name: value' (repeatable)", collect)
    .option('--body <body>', 'request body, @file or - for stdin')
    .option('--claims <json>', 'verified JWT claims to assume (as jwt_authn metadata), JSON or @file')
    .option('--check-request <file>', 'a CheckRequest in Envoy JSON (attributes...) instead of method/path')
    .option('--host <authority>', 'the request :authority (default: the host header, else fhir.local)')
    .addOption(
      new Option('--expect <decision>', 'exit 1 unless the enforced decision is this').choices(['allow', 'deny']),
    )
    .action(
      async (
        method: string | undefined,
        path: string | undefined,
        opts: Record<string, string | string[] | undefined>,
      ) => {
        const loaded = readPolicyDir(String(opts['policies']));
        if (!loaded.ok) {
          for (const f of loaded.error.findings) process.stderr.write(`${formatFinding(f)}\n`);
          process.exitCode = 2;
          return;
        }
        let input: CheckInput;
        const file = opts['check-request'] ?? opts['checkRequest'];
        if (typeof file === 'string') {
          input = readJsonFile(file, CheckInputSchema, 'a CheckRequest');
        } else {
          if (!method || !path) throw new PhiguardError('usage', 'give METHOD and PATH, or --check-request FILE');
          const headers: Record<string, string> = {};
          for (const h of (opts['header'] as string[] | undefined) ?? []) {
            const i = h.indexOf(':');
            if (i <= 0) throw new PhiguardError('usage', `header "${h}" is not 'name: value'`);
            headers[h.slice(0, i).trim().toLowerCase()] = h.slice(i + 1).trim();
          }
          const claimsArg = opts['claims'];
          const claims =
            typeof claimsArg === 'string'
              ? readJsonArg('--claims', claimsArg, z.record(z.string(), z.unknown()), 'a JSON object of claims')
              : undefined;
          const body = typeof opts['body'] === 'string' ? readArg(opts['body']) : undefined;
          const host = typeof opts['host'] === 'string' ? opts['host'] : undefined;
          input = checkInputFor({
            method,
            path,
            ...(host !== undefined ? { host } : {}),
            principal: String(opts['principal'] ?? ''),
            headers,
            ...(body !== undefined ? { body } : {}),
            ...(claims ? { claims } : {}),
          });
        }
        const bases = (opts['fhirBase'] as string[] | undefined) ?? ['/fhir'];
        const resolver = createClaimsResolver(ClaimsConfigSchema.parse({}));
        const result = await explain(input, loaded.value.set, resolver, bases, explainSources(opts));
        process.stdout.write(`${toJson({ policyVersion: loaded.value.set.version, ...result })}\n`);
        const expected = opts['expect'];
        if (expected !== undefined && expected !== result.decision.outcome) {
          const d = result.decision;
          process.stderr.write(
            `phiguard explain: expected ${String(expected)}, got ${d.outcome} (rule ${d.rule}, reason ${d.reason})\n`,
          );
          process.exitCode = 1;
        }
      },
    );
}
