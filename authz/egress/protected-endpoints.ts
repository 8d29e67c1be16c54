/**
 * Endpoints agents never reach: cloud instance-metadata services and the Kubernetes API server. One list, used by
 * the egress lane (hard denies), the Cilium generator (egressDeny) and `phiguard check` (CIL002/CIL003).
 *
 * Metadata addresses are denied exactly (/32, /128), never as the whole link-local range (169.254.0.0/16 also
 * carries node-local DNS caches and other legitimate services). Sources: each provider's instance-metadata docs.
 * Hosts and addresses are compared in their canonical reading (canonical-host.ts), so every spelling of an entry
 * (`2852039166`, `[::ffff:a9fe:a9fe]`, `metadata.google.internal.`) is that entry.
 */
import { addressKeys, canonicalHost, type CanonicalHost } from './canonical-host.js';

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
  /** The provider documentation that names the address. */
  sources: readonly string[];
}

export const METADATA_ENDPOINTS: readonly MetadataEndpoint[] = [
  {
    cidr: '169.254.169.254/32',
    cloud: 'aws, gcp, azure, oci, ibm, digitalocean, openstack',
    what: 'instance metadata service (IMDS)',
    target: 'instance-metadata',
    sources: [
      'https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html',
      'https://cloud.google.com/compute/docs/metadata/querying-metadata',
      'https://learn.microsoft.com/en-us/azure/virtual-machines/instance-metadata-service',
      'https://docs.oracle.com/en-us/iaas/Content/Compute/Tasks/gettingmetadata.htm',
      'https://cloud.ibm.com/docs/vpc?topic=vpc-imd-about',
      'https://docs.digitalocean.com/reference/api/metadata/',
      'https://docs.openstack.org/nova/latest/user/metadata.html',
    ],
  },
  {
    cidr: 'fd00:ec2::254/128',
    cloud: 'aws',
    what: 'IMDS over IPv6 (Nitro)',
    target: 'instance-metadata',
    sources: ['https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/instancedata-data-retrieval.html'],
  },
  {
    cidr: '169.254.170.2/32',
    cloud: 'aws',
    what: 'ECS task metadata / credentials endpoint',
    target: 'ecs-task-metadata',
    sources: [
      'https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-iam-roles.html',
      'https://docs.aws.amazon.com/AmazonECS/latest/developerguide/task-metadata-endpoint-v2.html',
    ],
  },
  {
    cidr: '169.254.170.23/32',
    cloud: 'aws',
    what: 'EKS Pod Identity agent',
    target: 'eks-pod-identity',
    exception: 'eks-pod-identity',
    sources: ['https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html'],
  },
  {
    cidr: 'fd00:ec2::23/128',
    cloud: 'aws',
    what: 'EKS Pod Identity agent over IPv6',
    target: 'eks-pod-identity',
    exception: 'eks-pod-identity',
    sources: ['https://docs.aws.amazon.com/eks/latest/userguide/pod-id-agent-setup.html'],
  },
  {
    cidr: 'fd20:ce::254/128',
    cloud: 'gcp',
    what: 'metadata server over IPv6',
    target: 'instance-metadata',
    sources: ['https://cloud.google.com/compute/docs/metadata/querying-metadata'],
  },
  {
    cidr: '168.63.129.16/32',
    cloud: 'azure',
    what: 'WireServer (platform agent, token and extension endpoints)',
    target: 'azure-wireserver',
    sources: ['https://learn.microsoft.com/en-us/azure/virtual-network/what-is-ip-address-168-63-129-16'],
  },
  {
    cidr: 'fd00:c1::a9fe:a9fe/128',
    cloud: 'oci',
    what: 'instance metadata over IPv6',
    target: 'instance-metadata',
    sources: ['https://docs.oracle.com/en-us/iaas/Content/Compute/Tasks/gettingmetadata.htm'],
  },
  {
    cidr: '100.100.100.200/32',
    cloud: 'alibaba',
    what: 'instance metadata service',
    target: 'instance-metadata',
    sources: ['https://www.alibabacloud.com/help/en/ecs/user-guide/view-instance-metadata'],
  },
  {
    // The documented name metadata.tencentyun.com resolves to this address inside a CVM.
    cidr: '169.254.0.23/32',
    cloud: 'tencent',
    what: 'instance metadata service (metadata.tencentyun.com)',
    target: 'instance-metadata',
    sources: ['https://www.tencentcloud.com/document/product/213/4934'],
  },
];

/** Host names that resolve to a metadata service (GCP, AWS, Tencent Cloud; sources as above). */
export const METADATA_HOSTS: ReadonlySet<string> = new Set([
  'metadata.google.internal',
  'metadata',
  'instance-data',
  'instance-data.ec2.internal',
  'metadata.tencentyun.com',
]);

/** Metadata endpoints by their canonical address (`fd00:ec2::254`, `169.254.169.254`), built once. */
const BY_ADDRESS: ReadonlyMap<string, MetadataEndpoint> = new Map(
  METADATA_ENDPOINTS.map((m) => [canonicalHost(m.cidr.slice(0, m.cidr.indexOf('/'))).host, m] as const),
);

/**
 * The metadata endpoint a host reaches: by its address, or by an IPv4 address it carries (IPv4-mapped, translated,
 * compatible or NAT64; see canonical-host.ts). Names are matched by metadataTargetOf.
 *
 * @param h - a canonical host (canonicalHost, canonicalAuthority)
 * @returns the endpoint's entry, or undefined
 */
export function metadataEndpointAt(h: CanonicalHost): MetadataEndpoint | undefined {
  if (h.kind !== 'ipv4' && h.kind !== 'ipv6') return undefined;
  for (const key of addressKeys(h)) {
    const m = BY_ADDRESS.get(key);
    if (m !== undefined) return m;
  }
  return undefined;
}

/** The hard-deny target of a canonical host that is a metadata address or name. */
export function metadataTargetOf(h: CanonicalHost): MetadataEndpoint['target'] | undefined {
  if (h.kind === 'name') return METADATA_HOSTS.has(h.host) ? 'instance-metadata' : undefined;
  return metadataEndpointAt(h)?.target;
}

/**
 * The hard-deny target for a host name or address in any spelling (`METADATA.GOOGLE.INTERNAL.`, `0xA9FEA9FE`).
 *
 * @returns the target, or undefined when it is no metadata endpoint. Never throws.
 */
export function metadataTarget(hostOrAddress: string): MetadataEndpoint['target'] | undefined {
  return metadataTargetOf(canonicalHost(hostOrAddress));
}

/** Whether a canonical host is an in-cluster name of the Kubernetes API server. */
export function isApiServerName(h: CanonicalHost, clusterDomain = 'cluster.local'): boolean {
  if (h.kind !== 'name') return false;
  const n = h.host;
  return (
    n === 'kubernetes' ||
    n === 'kubernetes.default' ||
    n === 'kubernetes.default.svc' ||
    n === `kubernetes.default.svc.${clusterDomain}`
  );
}

/**
 * Whether a host in any spelling is an in-cluster name of the Kubernetes API server (`kubernetes.default.svc.<cluster
 * domain>` included).
 */
export function isApiServerHost(host: string, clusterDomain = 'cluster.local'): boolean {
  return isApiServerName(canonicalHost(host), clusterDomain);
}
