/**
 * The `phiguard check` rules: stable ids, a default severity, a one-line why and a fix hint. The rule table of
 * docs/check.md is this list, and docs/check/<ID>.md is generated from it (npm run generate:docs).
 */
import type { FindingSeverity } from '../../authz/model/index.js';

export interface RuleInfo {
  id: string;
  name: string;
  severity: FindingSeverity;
  why: string;
  fix: string;
}

/** How `check` output and `--fail-on` name severities: SARIF's levels, where `info` is `note`. */
export const CHECK_LEVELS = { error: 'error', warning: 'warning', info: 'note' } as const satisfies Record<
  FindingSeverity,
  string
>;
export type CheckLevel = (typeof CHECK_LEVELS)[FindingSeverity];
/** Lowest first: `--fail-on warning` fails on warnings and errors. */
export const LEVEL_RANK: Readonly<Record<CheckLevel, number>> = { note: 0, warning: 1, error: 2 };

const rules = [
  {
    id: 'CIL001',
    name: 'agent-default-deny-egress',
    severity: 'error',
    why: 'An agent without a default-deny egress CiliumNetworkPolicy can reach anything the network allows.',
    fix: 'Generate one with `phiguard generate cilium` and apply it in the agent namespace.',
  },
  {
    id: 'CIL002',
    name: 'agent-metadata-deny',
    severity: 'error',
    why: 'Cloud metadata endpoints hand out node credentials; agents must never reach them.',
    fix: 'Add egressDeny toCIDRSet entries for every metadata address (v4 and v6), as `phiguard generate cilium` does.',
  },
  {
    id: 'CIL003',
    name: 'agent-apiserver-deny',
    severity: 'error',
    why: 'An agent that can reach the Kubernetes API server can try to escalate.',
    fix: 'Add `egressDeny: [{toEntities: [kube-apiserver]}]`.',
  },
  {
    id: 'CIL004',
    name: 'agent-no-world-egress',
    severity: 'error',
    why: 'world entities, a CIDR of /7 or wider (v4; /15 for v6), an L3-less rule (toPorts only), or an FQDN pattern over a public suffix (`*`, `*.com`, `*.co.uk`) lets PHI leave to any endpoint.',
    fix: 'Allow named, BAA-covered FQDNs instead.',
  },
  {
    id: 'CIL005',
    name: 'fqdn-covered-by-baa',
    severity: 'error',
    why: 'Sending PHI to an endpoint without an active Business Associate Agreement violates 45 CFR 164.504(e).',
    fix: 'Remove the FQDN, or record an active agreement for it in the BAA registry.',
  },
  {
    id: 'CIL006',
    name: 'fqdn-dns-rule',
    severity: 'error',
    why: "toFQDNs only works if Cilium's DNS proxy sees the lookup: without a DNS rule the names never resolve to allowed IPs.",
    fix: 'Add an egress rule toward kube-dns with `toPorts.rules.dns` listing the names.',
  },
  {
    id: 'CIL010',
    name: 'cilium-crd-schema',
    severity: 'error',
    why: 'The API server rejects a policy that does not match the CRD schema of the Cilium version you run.',
    fix: 'Fix the field named in the message (schema from --cilium-crd).',
  },
  {
    id: 'CIL011',
    name: 'cilium-unknown-field',
    severity: 'error',
    why: 'The API server prunes unknown fields silently, which changes what the policy means (e.g. egressDeny toFQDNs).',
    fix: 'Remove or correct the field.',
  },
  {
    id: 'CIL012',
    name: 'cilium-import-rule',
    severity: 'error',
    why: 'The Cilium agent rejects this at import although the schema accepts it; the policy is not enforced.',
    fix: "Restructure the rule as the message says (see Cilium's rule_validation.go).",
  },
  {
    id: 'IST001',
    name: 'istio-custom-provider',
    severity: 'error',
    why: 'A CUSTOM AuthorizationPolicy whose provider is not defined in meshConfig.extensionProviders does not route to phiguard.',
    fix: 'Define the provider in meshConfig.extensionProviders, or fix the provider name.',
  },
  {
    id: 'IST002',
    name: 'istio-fail-closed',
    severity: 'error',
    why: 'failOpen: true lets every request through while phiguard is unreachable.',
    fix: 'Set failOpen: false (the default).',
  },
  {
    id: 'IST003',
    name: 'istio-request-body',
    severity: 'warning',
    why: 'Without the request body phiguard cannot see the patients inside FHIR Bundles and POST searches.',
    fix: 'Set includeRequestBodyInCheck with maxRequestBytes of at least 1 MiB and allowPartialMessage: true.',
  },
  {
    id: 'IST004',
    name: 'istio-timeout',
    severity: 'warning',
    why: 'A missing or very long timeout stalls clinical requests when phiguard is slow; a very short one denies healthy traffic.',
    fix: 'Set timeout between 0.1s and 5s.',
  },
  {
    id: 'IST005',
    name: 'istio-agents-routed',
    severity: 'error',
    why: 'Agent workloads exist but no CUSTOM AuthorizationPolicy sends traffic to a phiguard provider.',
    fix: 'Apply a CUSTOM AuthorizationPolicy on the FHIR server (deploy/overlays/istio/authorization-policy.yaml).',
  },
  {
    id: 'IST006',
    name: 'istio-custom-has-rules',
    severity: 'error',
    why: 'A CUSTOM AuthorizationPolicy without rules matches no request (Istio: "If not set, the match will never occur"), so phiguard is never called.',
    fix: 'Add `rules: [{}]`, which matches every request to the selected workload.',
  },
  {
    id: 'IST007',
    name: 'istio-custom-every-request',
    severity: 'error',
    why: 'A CUSTOM policy scoped to paths, methods, hosts, ports, sources or conditions sends phiguard only the requests it matches; another path, spelling or port reaches the FHIR server undecided.',
    fix: 'Use `rules: [{}]` on the FHIR workload and let phiguard decide every request (it denies what no agent policy allows).',
  },
  {
    id: 'IST008',
    name: 'istio-strict-mtls',
    severity: 'error',
    why: 'phiguard identifies agents by the SPIFFE id of the mTLS peer; PERMISSIVE or DISABLE on an agent or on the workload behind phiguard accepts plaintext that carries no identity and bypasses the mesh identity model.',
    fix: 'Set PeerAuthentication mtls.mode: STRICT for the agent and FHIR workloads (no PERMISSIVE portLevelMtls).',
  },
  {
    id: 'IST009',
    name: 'istio-wasm-fail-closed',
    severity: 'error',
    why: 'A WasmPlugin with failStrategy FAIL_OPEN is skipped when its module fails to fetch or load or its VM fails: requests pass the filter unexamined (Istio: "not recommended for the authentication or the authorization plugins").',
    fix: 'Set failStrategy: FAIL_CLOSE (the default) or FAIL_RELOAD.',
  },
  {
    id: 'IST010',
    name: 'istio-wasm-pinned',
    severity: 'error',
    why: 'A WasmPlugin without sha256 (or a url pinned by @sha256: digest) runs whatever module its URL or tag serves when the proxy fetches it: code in the request path that no one reviewed.',
    fix: 'Set sha256 to the SHA-256 of the module (`sha256sum phiguard-filter.wasm`), or pin an OCI url by digest (oci://REGISTRY/REPO@sha256:DIGEST).',
  },
  {
    id: 'IST011',
    name: 'istio-wasm-placement',
    severity: 'info',
    why: "Istio inserts the ext_authz filter of a CUSTOM AuthorizationPolicy before every WasmPlugin, whatever its phase: on workloads a CUSTOM policy to phiguard covers, phiguard's filter sees only requests phiguard already allowed, saves no Check, and is a second, independent check of request lines (defence in depth). Without a CUSTOM policy, a phase other than AUTHZ places the filter before Istio's authentication (AUTHN) or after its authorization filters (STATS, unset).",
    fix: 'Accept it where the filter is meant as defence in depth (deploy/overlays/istio-wasm); to save Checks in Istio, run the filter without a CUSTOM policy on the workload and a program generated with `--defer-to callout` (docs/wasm.md, "Deployment"). Otherwise set phase: AUTHZ.',
  },
  {
    id: 'IST012',
    name: 'istio-wasm-audited',
    severity: 'error',
    why: "A decision phiguard's filter makes in the proxy is audited only through the access log: without an access-log provider that carries wasm.phiguard_decision to phiguard for the filtered workloads, or with a Telemetry `filter` expression that drops some entries, those in-proxy decisions leave no audit record (45 CFR 164.312(b)).",
    fix: 'Define an envoyHttpAls provider with filterStateObjectsToLog: [wasm.phiguard_decision] (deploy/overlays/istio/istiod-values.yaml) and enable it for the workloads with a Telemetry without `filter` (deploy/overlays/istio-wasm/telemetry.yaml).',
  },
  {
    id: 'IST013',
    name: 'istio-wasm-ext-authz-after',
    severity: 'error',
    why: "phiguard's filter with a program that defers to the next filter (`defer-to next-filter`) lets every request it does not deny go on: in Istio the CUSTOM ext_authz runs before the filter and nothing after it Checks, so without a CUSTOM AuthorizationPolicy to phiguard on the same workloads those requests reach the server with no decision.",
    fix: 'Apply the CUSTOM AuthorizationPolicy to the workloads the WasmPlugin selects (deploy/overlays/istio/authorization-policy.yaml), or generate the program with `--defer-to callout`.',
  },
  {
    id: 'IST014',
    name: 'istio-wasm-checked-once',
    severity: 'warning',
    why: "phiguard's filter with a program that Checks deferred requests itself, on workloads a CUSTOM AuthorizationPolicy sends to phiguard: the CUSTOM ext_authz Checked each request before the filter, and the filter Checks the deferred ones again (two round trips, two audit records), the second without its body.",
    fix: 'Generate the program with `phiguard generate wasm-config --defer-to next-filter`, or remove the CUSTOM policy from the workloads the WasmPlugin selects.',
  },
  {
    id: 'IST015',
    name: 'istio-wasm-receiver',
    severity: 'error',
    why: 'phiguard records in-proxy decisions only when `serve` runs its AccessLogService receiver (`--proxy-audit xfcc` or `network`) and, with `xfcc`, only from the SPIFFE ids in `--proxy-audit-reporters`: a phiguard without the receiver, or one that does not name the workload whose sidecar runs the filter, refuses every entry, and those decisions leave no audit record (45 CFR 164.312(b)).',
    fix: 'Set PHIGUARD_PROXY_AUDIT=xfcc and PHIGUARD_PROXY_AUDIT_REPORTERS to spiffe://TRUST_DOMAIN/ns/NAMESPACE/sa/SERVICE_ACCOUNT of each workload the WasmPlugin selects (deploy/overlays/istio-wasm/kustomization.yaml).',
  },
  {
    id: 'ENV001',
    name: 'envoy-ext-authz-present',
    severity: 'error',
    why: 'An HTTP listener without the ext_authz filter is not protected by phiguard.',
    fix: 'Add envoy.filters.http.ext_authz before the router (envoy/envoy.yaml).',
  },
  {
    id: 'ENV002',
    name: 'envoy-fail-closed',
    severity: 'error',
    why: 'failure_mode_allow: true lets requests through while phiguard is unreachable.',
    fix: 'Set failure_mode_allow: false.',
  },
  {
    id: 'ENV003',
    name: 'envoy-transport-v3',
    severity: 'error',
    why: 'phiguard serves envoy.service.auth.v3 only; transport_api_version V2 cannot reach it (unset or AUTO means V3).',
    fix: 'Set transport_api_version: V3, or leave it unset.',
  },
  {
    id: 'ENV004',
    name: 'envoy-config-proto',
    severity: 'error',
    why: 'Envoy rejects configuration that does not parse against its protos (unknown fields, bad enums, bad durations).',
    fix: 'Fix the field named in the message.',
  },
  {
    id: 'ENV005',
    name: 'envoy-newer-than-checker',
    severity: 'warning',
    why: "A field, enum value or extension type the checker's Envoy API does not define: newer than that API (the message names it) or a mistake; Envoy rejects what it does not know.",
    fix: "Check the name against your Envoy version's API reference.",
  },
  {
    id: 'ENV006',
    name: 'envoy-ext-authz-before-router',
    severity: 'error',
    why: 'HTTP filters run in order and the router is terminal: an ext_authz after it never sees a request (Envoy rejects a filter after the router).',
    fix: 'Move envoy.filters.http.ext_authz before envoy.filters.http.router.',
  },
  {
    id: 'ENV007',
    name: 'envoy-ext-authz-not-disabled',
    severity: 'error',
    why: 'ext_authz disabled on the filter, on a virtual host, or on a catch-all route lets those requests through without a phiguard decision.',
    fix: 'Remove `disabled: true` (ExtAuthzPerRoute, FilterConfig or the HttpFilter); disable only on narrow routes that carry no PHI.',
  },
  {
    id: 'ENV008',
    name: 'envoy-ext-authz-cluster',
    severity: 'error',
    why: 'An ext_authz filter whose cluster does not exist cannot reach phiguard: every request fails (or passes, with failure_mode_allow).',
    fix: 'Point envoy_grpc.cluster_name at a cluster in static_resources.clusters, or define it.',
  },
  {
    id: 'ENV009',
    name: 'envoy-wasm-fail-closed',
    severity: 'error',
    why: 'A wasm filter with fail_open: true (or failure_policy: FAIL_OPEN) is bypassed when its VM fails: requests pass it unexamined.',
    fix: 'Set fail_open: false (the default), or failure_policy: FAIL_CLOSED or FAIL_RELOAD.',
  },
  {
    id: 'ENV010',
    name: 'envoy-wasm-pinned',
    severity: 'error',
    why: 'Remote wasm code without a sha256 runs whatever the URL serves when Envoy fetches it: code in the request path that no one reviewed.',
    fix: 'Set vm_config.code.remote.sha256 to the SHA-256 of the module (`sha256sum phiguard-filter.wasm`), or load a local file you control.',
  },
  {
    id: 'ENV011',
    name: 'envoy-wasm-audited',
    severity: 'error',
    why: "A decision phiguard's filter makes in the proxy is audited only through the access log: without an http_grpc access log carrying wasm.phiguard_decision to phiguard, or with one whose `filter` drops some entries (runtime_filter sampling, status_code_filter), those in-proxy decisions leave no audit record (45 CFR 164.312(b)).",
    fix: 'Add an envoy.access_loggers.http_grpc access log without `filter`, with filter_state_objects_to_log: [wasm.phiguard_decision], to the phiguard cluster (envoy/envoy-wasm.yaml).',
  },
  {
    id: 'ENV012',
    name: 'envoy-wasm-before-ext-authz',
    severity: 'warning',
    why: "phiguard's filter after ext_authz sees only requests phiguard already allowed: its in-proxy denies save no Check.",
    fix: 'Put envoy.filters.http.wasm before envoy.filters.http.ext_authz (after jwt_authn).',
  },
  {
    id: 'ENV013',
    name: 'envoy-wasm-ext-authz-after',
    severity: 'error',
    why: "phiguard's filter with a program that defers to the next filter (`defer-to next-filter`) lets every request it does not deny go on: without an enabled ext_authz filter in the chain, those requests reach the router with no decision.",
    fix: 'Put envoy.filters.http.ext_authz after the wasm filter (envoy/envoy-wasm.yaml), or generate the program without --defer-to next-filter.',
  },
  {
    id: 'ENV014',
    name: 'envoy-wasm-checked-once',
    severity: 'warning',
    why: "phiguard's filter with a program that Checks deferred requests itself, in a chain with ext_authz: each deferred request is Checked twice (two round trips, two audit records), the first without its body and jwt_authn payload.",
    fix: 'Generate the program with `phiguard generate wasm-config --defer-to next-filter`.',
  },
  {
    id: 'ENV015',
    name: 'envoy-wasm-receiver',
    severity: 'error',
    why: "phiguard records the in-proxy decisions an Envoy's access log sends only when `serve` runs its AccessLogService receiver (`--proxy-audit network`, or `xfcc`): without it every entry is refused, and those decisions leave no audit record (45 CFR 164.312(b)).",
    fix: 'Set PHIGUARD_PROXY_AUDIT=network (`serve --proxy-audit network`) and keep port 9191 closed to everything but the Envoy pods (deploy/overlays/envoy).',
  },
  {
    id: 'K8S001',
    name: 'agent-rbac-privilege',
    severity: 'error',
    why: 'An agent service account bound to cluster-admin, admin or edit, a wildcard role, or a role that reads Secrets, execs into pods, creates pods or tokens, or escalates RBAC can reach every Secret and PHI store.',
    fix: 'Bind only the verbs and resources the agent needs, or none.',
  },
  {
    id: 'K8S002',
    name: 'agent-sa-token-automount',
    severity: 'warning',
    why: 'A mounted service-account token is a credential an agent (or a prompt injection) can use against the API server.',
    fix: 'Set automountServiceAccountToken: false, or annotate phiguard.io/needs-service-account-token: "true" when it is needed.',
  },
  {
    id: 'K8S003',
    name: 'agent-host-network',
    severity: 'error',
    why: 'hostNetwork bypasses pod network policy and exposes node services.',
    fix: 'Remove hostNetwork: true.',
  },
  {
    id: 'K8S004',
    name: 'agent-sandbox-runtime',
    severity: 'warning',
    why: 'Agents that execute shell or tools should run in a sandboxed runtime (gVisor, Kata).',
    fix: 'Set runtimeClassName to a sandboxed RuntimeClass (e.g. gvisor).',
  },
  {
    id: 'K8S005',
    name: 'agent-service-account-not-shared',
    severity: 'error',
    why: "Identity is per service account: a non-agent workload running as an agent's service account gets the agent's SPIFFE id and phiguard policy without the agent's containment.",
    fix: 'Give every agent its own service account and run nothing else under it.',
  },
  {
    id: 'PHG001',
    name: 'phiguard-policies-load',
    severity: 'error',
    why: 'phiguard refuses to start on policy files that do not load or type-check.',
    fix: 'Fix the file, document and field named in the message (`phiguard explain` helps).',
  },
  {
    id: 'PHG002',
    name: 'phiguard-baa-registry',
    severity: 'error',
    why: 'An invalid BAA registry means egress decisions and FQDN checks have no source of truth.',
    fix: 'Fix the registry file.',
  },
  {
    id: 'PHG003',
    name: 'agent-has-policy',
    severity: 'error',
    why: 'An agent workload without a phiguard agent policy is denied everything (or, worse, not routed at all).',
    fix: "Add an AgentPolicy whose selector matches the workload's namespace and service account.",
  },
  {
    id: 'PHG004',
    name: 'broad-unresolved-opt-in',
    severity: 'warning',
    why: 'An allowUnresolved opt-in such as population-query, unknown-parameter, a body reason or kind:* lets the rule reach patients the request does not name.',
    fix: 'Opt in to exact reasons (instance-of:Encounter), or narrow the rule so the scope resolves.',
  },
  {
    id: 'PHG005',
    name: 'suppression-has-reason',
    severity: 'error',
    why: 'A suppression must say why the finding is accepted; one without a reason, or naming no rule, hides a finding silently.',
    fix: 'Write the annotation as `phiguard.io/suppress: "RULE: reason"` with a known rule id.',
  },
] as const satisfies readonly RuleInfo[];

/** The check's finding codes: the rule ids. */
export type RuleId = (typeof rules)[number]['id'];
export const RULES: readonly RuleInfo[] = rules;
export const RULE_BY_ID: ReadonlyMap<string, RuleInfo> = new Map(rules.map((r) => [r.id, r]));
