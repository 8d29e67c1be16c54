/**
 * Endpoints agents never reach: cloud instance-metadata services and the Kubernetes API server. One list, used by
 * the egress lane (hard denies), the Cilium generator (egressDeny) and `phiguard check` (CIL002/CIL003).
 *
 * Metadata addresses are denied exactly (/32, /128), never as the whole link-local range (169.254.0.0/16 also
 * carries node-local DNS caches and other legitimate services). Sources: each provider's instance-metadata docs.
 */
/** The hard-deny targets, by the names a policy's `egressExceptions` use. Closed set, owned here. */
export const HARD_DENY_TARGETS = [
  'instance-metadata',
  'ecs-task-metadata',
  'eks-pod-identity',
  'azure-wireserver',
  'kube-apiserver',
] as const;
export type HardDenyTarget = (typeof HARD_DENY_TARGETS)[number];

export interface MetadataEndpoint {
  cidr: string;
  cloud: string;
  what: string;
  /** The hard-deny target name a policy's `egressExceptions` refers to. */
  target: Exclude<HardDenyTarget, 'kube-apiserver'>;
  /** Named exception the generator may honour when the envelope shows the agent needs it (e.g. EKS Pod Identity). */
  exception?: string;
}

export const METADATA_ENDPOINTS: readonly MetadataEndpoint[] = [
  {
    cidr: '169.254.169.254/32',
    cloud: 'aws, gcp, azure, oci, ibm, digitalocean, openstack',
    what: 'instance metadata service (IMDS)',
    target: 'instance-metadata',
  },
  { cidr: 'fd00:ec2::254/128', cloud: 'aws', what: 'IMDS over IPv6 (Nitro)', target: 'instance-metadata' },
  {
    cidr: '169.254.170.2/32',
    cloud: 'aws',
    what: 'ECS task metadata / credentials endpoint',
    target: 'ecs-task-metadata',
  },
  {
    cidr: '169.254.170.23/32',
    cloud: 'aws',
    what: 'EKS Pod Identity agent',
    target: 'eks-pod-identity',
    exception: 'eks-pod-identity',
  },
  {
    cidr: 'fd00:ec2::23/128',
    cloud: 'aws',
    what: 'EKS Pod Identity agent over IPv6',
    target: 'eks-pod-identity',
    exception: 'eks-pod-identity',
  },
  { cidr: 'fd20:ce::254/128', cloud: 'gcp', what: 'metadata server over IPv6', target: 'instance-metadata' },
  {
    cidr: '168.63.129.16/32',
    cloud: 'azure',
    what: 'WireServer (platform agent, token and extension endpoints)',
    target: 'azure-wireserver',
  },
  { cidr: 'fd00:c1::a9fe:a9fe/128', cloud: 'oci', what: 'instance metadata over IPv6', target: 'instance-metadata' },
  { cidr: '100.100.100.200/32', cloud: 'alibaba', what: 'instance metadata service', target: 'instance-metadata' },
];

/** Host names that resolve to a metadata service. */
export const METADATA_HOSTS: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
]);

/** Address or name -> hard-deny target, built once (the egress lane asks on every Check). */
const TARGETS: ReadonlyMap<string, MetadataEndpoint['target']> = new Map([
  ...METADATA_ENDPOINTS.map((m) => [m.cidr.slice(0, m.cidr.indexOf('/')), m.target] as const),
  ...[...METADATA_HOSTS].map((h) => [h, 'instance-metadata'] as const),
]);

/** The hard-deny target for a host name or address, if it is a metadata endpoint. */
export function metadataTarget(hostOrAddress: string): MetadataEndpoint['target'] | undefined {
  return TARGETS.get(hostOrAddress.toLowerCase());
}

/** The in-cluster names of the Kubernetes API server (`kubernetes.default.svc.<cluster domain>` included). */
export function isApiServerHost(host: string, clusterDomain = 'cluster.local'): boolean {
  return (
    host === 'kubernetes' ||
    host === 'kubernetes.default' ||
    host === 'kubernetes.default.svc' ||
    host === `kubernetes.default.svc.${clusterDomain}`
  );
}
