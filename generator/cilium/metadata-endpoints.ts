/**
 * Cloud instance-metadata endpoints, denied for agents by exact address (/32, /128), never by the whole link-local
 * range (169.254.0.0/16 also carries node-local DNS caches and other legitimate services).
 * Sources: each provider's instance-metadata documentation.
 */
export interface MetadataEndpoint {
  cidr: string;
  cloud: string;
  what: string;
  /** Named exception a user may opt into (e.g. EKS Pod Identity), when the envelope shows the agent needs it. */
  exception?: string;
}

export const METADATA_ENDPOINTS: readonly MetadataEndpoint[] = [
  { cidr: '169.254.169.254/32', cloud: 'aws, gcp, azure, oci, ibm, digitalocean, openstack', what: 'instance metadata service (IMDS)' },
  { cidr: 'fd00:ec2::254/128', cloud: 'aws', what: 'IMDS over IPv6 (Nitro)' },
  { cidr: '169.254.170.2/32', cloud: 'aws', what: 'ECS task metadata / credentials endpoint' },
  { cidr: '169.254.170.23/32', cloud: 'aws', what: 'EKS Pod Identity agent', exception: 'eks-pod-identity' },
  { cidr: 'fd00:ec2::23/128', cloud: 'aws', what: 'EKS Pod Identity agent over IPv6', exception: 'eks-pod-identity' },
  { cidr: 'fd20:ce::254/128', cloud: 'gcp', what: 'metadata server over IPv6' },
  { cidr: '168.63.129.16/32', cloud: 'azure', what: 'WireServer (platform agent, token and extension endpoints)' },
  { cidr: 'fd00:c1::a9fe:a9fe/128', cloud: 'oci', what: 'instance metadata over IPv6' },
  { cidr: '100.100.100.200/32', cloud: 'alibaba', what: 'instance metadata service' },
];

/** Hosts that name metadata endpoints (for matching envelope egress by name). */
export const METADATA_HOSTS: ReadonlySet<string> = new Set(['metadata.google.internal', 'metadata', 'instance-data', 'instance-data.ec2.internal']);
