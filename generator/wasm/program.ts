/**
 * `phiguard generate wasm-config`: the decision program the proxy-wasm filter (wasm/assembly) reads at configure
 * time, by partial evaluation of the compiled policies over what the proxy sees: the peer's URI SAN, `:method`,
 * `:path` routed to a FHIR interaction and resource type (no query, no body), and `:authority`.
 *
 * Each cell (agent, host, method, interaction shape, resource type) is decided by the service's own authorizer on a
 * representative request of that shape, and kept only when the decision cannot differ for any other request of the
 * cell: every deny rule of the agent is visible (visible-rules.ts); a default deny or an allow also needs every
 * allow rule visible; the agent has no break-glass class; the host is internal and not a protected endpoint; the
 * decision is a rule's or the default's (not a lane that reads live state). Everything else is DEFER — the filter
 * asks the service. ALLOW cells are written only on request (`allowInProxy`): an in-proxy allow skips the
 * service's containment state and its audit record, so it is off unless the operator accepts that.
 *
 * The program is line-based text, tab-separated, in this order:
 *   phiguard-wasm-program 1
 *   policy <version>                 the compiled policy set's version, carried into every in-proxy decision
 *   authz <cluster> <timeout ms>     Envoy cluster of the ext_authz service, and the Check deadline
 *   defer-to next-filter             (optional) a deferred request goes on to the next filter, Envoy's ext_authz,
 *                                    instead of the filter's own Check call
 *   base <segments>                  one per FHIR base (`fhir`, `fhir/R4`, or empty for the root)
 *   types <names>                    resource types, space-separated; compartments <names> likewise
 *   defer-header <name>              a header whose presence sends the request to the service
 *   verdict allow|deny <status> <rule> <reason> <agent> <OperationOutcome with {{decision-id}} / {{reason}}>
 *   agent <principal> <name>, then host <authority> <class> lines (hosts deciding alike share a class), then
 *   cell <class> <method> <shape> <type or *> <verdict index, or - for DEFER>
 *   end
 */
import {
  ClaimsConfigSchema,
  createAuthorizer,
  createClaimsResolver,
  type CompiledPolicySet,
  type Decision,
} from '../../authz/index.js';
import { COMPARTMENT_TYPES, RESOURCE_TYPES } from '../../authz/fhir/index.js';
import { parseSpiffeId } from '../../authz/identity/index.js';
import type { CompiledAgent, CompiledRule } from '../../authz/policy/index.js';
import { operationOutcome } from '../../authz/transport/index.js';
import { checkInputFor, explainSnapshot, type ExplainSources } from '../explain/index.js';
import { ruleVisibility, type CellContext } from './visible-rules.js';

export const PROGRAM_MAGIC = 'phiguard-wasm-program';
export const PROGRAM_FORMAT = '1';

export interface WasmProgramOptions {
  fhirBasePaths: readonly string[];
  /** Envoy cluster of phiguard's ext_authz service (as in the ext_authz filter's grpc_service). */
  authzCluster: string;
  timeoutMs: number;
  /** Write ALLOW cells (default: only DENY; every other request goes to the service). */
  allowInProxy: boolean;
  /** `:authority` values to decide for besides the hosts the rules name. */
  hosts: readonly string[];
  /** Headers that send a request to the service (a bearer token can change the decision before any rule). */
  deferHeaders: readonly string[];
  /**
   * Where a deferred request goes: `callout`, the filter's own Check call (default; the filter is the only
   * authorization filter); `next-filter`, on down the chain to Envoy's ext_authz filter, which Checks it with its body
   * and the `jwt_authn` payload (the filter then only denies; ALLOW cells are refused: the request would be Checked
   * again).
   */
  deferTo?: 'callout' | 'next-filter';
  sources?: ExplainSources;
}

export const DEFAULT_DEFER_HEADERS = ['authorization'] as const;

/** Methods of the invalid-request cells: the ones the FHIR router knows, and one it refuses. */
const INVALID_METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE', 'OPTIONS'] as const;

/** A representative request line for each shape the filter keys, by method. */
interface ShapeProbe {
  methods: readonly string[];
  shape: string;
  /** Cell type -> path after the base. */
  paths: Array<[type: string, path: string]>;
}

function probes(): ShapeProbe[] {
  const types = [...RESOURCE_TYPES].sort();
  const read = ['GET', 'HEAD'];
  const perType = (f: (t: string) => string): Array<[string, string]> => types.map((t) => [t, f(t)]);
  const compartments: Array<[string, string]> = [];
  for (const c of [...COMPARTMENT_TYPES].sort()) {
    compartments.push([`${c}/*`, `${c}/x1/*`]);
    for (const t of types) compartments.push([`${c}/${t}`, `${c}/x1/${t}`]);
  }
  return [
    { methods: read, shape: 'read', paths: perType((t) => `${t}/x1`) },
    { methods: read, shape: 'vread', paths: perType((t) => `${t}/x1/_history/1`) },
    { methods: read, shape: 'history-instance', paths: perType((t) => `${t}/x1/_history`) },
    { methods: read, shape: 'history-type', paths: perType((t) => `${t}/_history`) },
    { methods: read, shape: 'search-type', paths: perType((t) => t) },
    { methods: read, shape: 'search-system', paths: [['*', '']] },
    { methods: read, shape: 'capabilities', paths: [['*', 'metadata']] },
    { methods: read, shape: 'history-system', paths: [['*', '_history']] },
    { methods: read, shape: 'compartment-search', paths: compartments },
    { methods: ['DELETE'], shape: 'delete', paths: perType((t) => `${t}/x1`) },
  ];
}

/** The representative invalid request: a dot segment (split-path.ts), decided before the base matched. */
const INVALID_PROBE = { path: '/%2e%2e', reason: 'dot-segment' } as const;

interface Decided {
  d: Decision;
  /** Whether the FHIR parser found the request valid. */
  valid: boolean;
}

interface Verdict {
  allow: boolean;
  status: number;
  rule: string;
  reason: string;
  agent: string;
  body: string;
}

/** Why an agent gets no table (everything of it is DEFER), or undefined. */
function agentExclusion(agent: CompiledAgent, all: readonly CompiledAgent[]): string | undefined {
  const p = agent.selector.principal;
  if (p === undefined) return 'selected by namespace or service account, not by a principal';
  // Two policies naming the same principal (with other selector fields) are ambiguous to the service: it denies.
  if (all.some((a) => a !== agent && a.selector.principal === p))
    return 'another policy names the same principal (the service denies the caller as ambiguous)';
  if (parseSpiffeId(p)?.principal !== p) return 'its principal is not an Istio SPIFFE id';
  if (agent.lanes.length > 0) return 'break-glass classes can replace a deny with claims the proxy does not see';
  return undefined;
}

/**
 * Whether a decision holds for every request of its cell: the rules evaluated up to the deciding one (deny rules in
 * order, then allow rules; an invalid request skips allow rules without allowInvalid) read only what is fixed for
 * the cell (policy-rules.ts).
 */
function exactFor(agent: CompiledAgent, d: Decision, context: CellContext): boolean {
  const visible = (r: CompiledRule): boolean => ruleVisibility(r.expression, context).visible;
  if (d.reason === 'rule-deny' || d.reason === 'rule-error') {
    const k = agent.denyRules.findIndex((r) => r.name === d.rule);
    return k >= 0 && agent.denyRules.slice(0, k + 1).every(visible);
  }
  if (!agent.denyRules.every(visible)) return false;
  const considered = agent.allowRules.filter((r) => context === 'valid' || r.allowInvalid);
  if (d.reason === 'rule-allow') {
    const j = considered.findIndex((r) => r.name === d.rule);
    return j >= 0 && considered.slice(0, j + 1).every(visible);
  }
  return considered.every(visible);
}

const TEXT_FIELD = /^[^\t\n\r]*$/;
const TOKEN = /^[A-Za-z0-9:._/@*-]+$/;

function field(s: string): string {
  if (!TEXT_FIELD.test(s)) throw new Error(`program field contains a tab or newline: ${JSON.stringify(s)}`);
  return s;
}

/**
 * The cells of one (method, shape): the most common verdict as `*`, and each type that differs with its own verdict
 * or `-` (DEFER), so a type without a verdict never falls back to the wildcard.
 */
function compress(method: string, shape: string, decided: ReadonlyArray<[string, number | undefined]>): string[] {
  const counts = new Map<number, number>();
  for (const [, v] of decided) if (v !== undefined) counts.set(v, (counts.get(v) ?? 0) + 1);
  let common: number | undefined;
  for (const [v, n] of counts) if (common === undefined || n > (counts.get(common) ?? 0)) common = v;
  if (common === undefined) return [];
  if ((counts.get(common) ?? 0) < 2)
    return decided.filter(([, v]) => v !== undefined).map(([t, v]) => `${method}\t${shape}\t${t}\t${v}`);
  const out = [`${method}\t${shape}\t*\t${common}`];
  for (const [t, v] of decided) if (v !== common) out.push(`${method}\t${shape}\t${t}\t${v ?? '-'}`);
  return out;
}

export interface WasmProgram {
  text: string;
  policyVersion: string;
  /** Agents without a table, and why. */
  excluded: Array<{ agent: string; why: string }>;
  cells: number;
}

/**
 * Builds the program. Decides each cell with the service's authorizer over a policy-only snapshot (plus the given
 * sources), so what the filter answers is what `phiguard explain` answers.
 * @throws when a value cannot be written into the program (a tab or newline in a rule name or host).
 */
export async function buildWasmProgram(set: CompiledPolicySet, options: WasmProgramOptions): Promise<WasmProgram> {
  if (options.deferTo === 'next-filter' && options.allowInProxy)
    throw new RangeError('ALLOW cells with deferTo next-filter: an in-proxy allow would be Checked again downstream');
  const snapshot = explainSnapshot(set, options.sources ?? {});
  const authorizer = createAuthorizer({
    snapshot: () => snapshot,
    // No token and no jwt_authn metadata: the filter defers every request that carries one (deferHeaders).
    claims: createClaimsResolver(ClaimsConfigSchema.parse({})),
    fhirBasePaths: options.fhirBasePaths,
  });
  const decide = async (principal: string, method: string, path: string, host: string): Promise<Decided> => {
    const r = await authorizer.authorize(checkInputFor({ method, path, principal, headers: {}, host }));
    return { d: r.decision, valid: r.attributes.fhir.valid };
  };
  const verdicts: Verdict[] = [];
  const verdictIndex = new Map<string, number>();
  const verdictOf = (v: Verdict): number => {
    const key = JSON.stringify(v);
    let i = verdictIndex.get(key);
    if (i === undefined) {
      i = verdicts.length;
      verdicts.push(v);
      verdictIndex.set(key, i);
    }
    return i;
  };

  const bases = options.fhirBasePaths.map((b) => b.split('/').filter((s) => s !== ''));
  const base = bases[0] ?? [];
  const basePath = base.length === 0 ? '' : `/${base.join('/')}`;
  const excluded: Array<{ agent: string; why: string }> = [];
  const agentLines: string[] = [];
  let cellCount = 0;

  for (const agent of set.agents) {
    const why = agentExclusion(agent, set.agents);
    if (why !== undefined) {
      excluded.push({ agent: agent.name, why });
      continue;
    }
    const principal = agent.selector.principal ?? '';
    const hosts = [
      ...new Set([...agent.denyRules, ...agent.allowRules].flatMap((r) => ruleVisibility(r.expression).hosts)),
      ...options.hosts,
    ].filter((h, i, all) => all.indexOf(h) === i && h !== '');

    /** The verdict for a decision of this cell, or undefined to DEFER. */
    const keep = ({ d, valid }: Decided, invalidReason: string | undefined): number | undefined => {
      if (d.egress !== undefined || d.inject !== undefined || d.lane !== undefined) return undefined;
      if (d.agent !== agent.name) return undefined;
      const byRule = d.reason === 'rule-deny' || d.reason === 'rule-error';
      const byDefault = d.reason === 'no-rule-matched' || d.reason === 'invalid-request' || d.reason === 'rule-allow';
      if (!byRule && !byDefault) return undefined;
      // A shape the filter routes as valid that the service found invalid: its reason is the service's to give.
      if ((invalidReason === undefined) !== valid) return undefined;
      if (!exactFor(agent, d, invalidReason === undefined ? 'valid' : 'invalid')) return undefined;
      if (d.outcome === 'allow' && !options.allowInProxy) return undefined;
      // An invalid request line is never allowed in the proxy (an `allowInvalid` rule's allow is the service's to
      // give), nor a deny an audit-mode agent is let through with (its answer is labelled audit-deny).
      if (d.outcome === 'allow' && (invalidReason !== undefined || d.mode !== 'enforce')) return undefined;
      if (!TOKEN.test(d.rule)) return undefined;
      const message =
        invalidReason !== undefined && d.reason === 'invalid-request'
          ? d.message.split(`(${invalidReason})`).join('({{reason}})')
          : d.message;
      if (invalidReason !== undefined && message.includes(invalidReason)) return undefined;
      const body = d.outcome === 'allow' ? '' : operationOutcome({ ...d, message }, '{{decision-id}}');
      return verdictOf({
        allow: d.outcome === 'allow',
        status: d.outcome === 'allow' ? 200 : d.status,
        rule: d.rule,
        reason: d.reason,
        agent: d.agent,
        body,
      });
    };

    const lines: string[] = [`agent\t${field(principal)}\t${field(agent.name)}`];
    /** Per host, its cells (`method \t shape \t type \t verdict`); hosts with the same cells share a class. */
    const byHost: Array<[string, string[]]> = [];
    for (const host of hosts) {
      const hostCells: string[] = [];
      // A host the egress lanes treat as outside, or a protected endpoint, is the service's to decide.
      const { d: probe } = await decide(principal, 'GET', `${basePath}/metadata`, host);
      if (probe.egress !== undefined || probe.reason === 'protected-endpoint') continue;
      for (const method of INVALID_METHODS) {
        const v = keep(await decide(principal, method, INVALID_PROBE.path, host), INVALID_PROBE.reason);
        if (v !== undefined) hostCells.push(`${method}\tinvalid\t*\t${v}`);
      }
      for (const p of probes()) {
        for (const method of p.methods) {
          const decided: Array<[string, number | undefined]> = [];
          for (const [type, path] of p.paths) {
            const d = await decide(principal, method, `${basePath}/${path}`.replace(/\/$/, '') || '/', host);
            decided.push([type, keep(d, undefined)]);
          }
          hostCells.push(...compress(method, p.shape, decided));
        }
      }
      byHost.push([host, hostCells]);
    }
    const classes: string[] = [];
    const hostLines: string[] = [];
    const cellLines: string[] = [];
    for (const [host, hostCells] of byHost) {
      if (hostCells.length === 0) continue;
      const key = hostCells.join('\n');
      let c = classes.indexOf(key);
      if (c === -1) {
        c = classes.length;
        classes.push(key);
        cellLines.push(...hostCells.map((cell) => `cell\t${c}\t${cell}`));
      }
      hostLines.push(`host\t${field(host)}\t${c}`);
    }
    if (cellLines.length === 0) {
      excluded.push({ agent: agent.name, why: 'no cell the proxy can decide exactly' });
      continue;
    }
    cellCount += cellLines.length;
    agentLines.push(...lines, ...hostLines, ...cellLines);
  }

  const text = [
    `${PROGRAM_MAGIC}\t${PROGRAM_FORMAT}`,
    `policy\t${field(set.version)}`,
    `authz\t${field(options.authzCluster)}\t${options.timeoutMs}`,
    ...(options.deferTo === 'next-filter' ? ['defer-to\tnext-filter'] : []),
    ...bases.map((b) => `base\t${field(b.join('/'))}`),
    `types\t${[...RESOURCE_TYPES].sort().join(' ')}`,
    `compartments\t${[...COMPARTMENT_TYPES].sort().join(' ')}`,
    ...options.deferHeaders.map((h) => `defer-header\t${field(h.toLowerCase())}`),
    ...verdicts.map(
      (v) =>
        `verdict\t${v.allow ? 'allow' : 'deny'}\t${v.status}\t${field(v.rule)}\t${field(v.reason)}\t${field(v.agent)}\t${field(v.body)}`,
    ),
    ...agentLines,
    'end',
    '',
  ].join('\n');
  return { text, policyVersion: set.version, excluded, cells: cellCount };
}
