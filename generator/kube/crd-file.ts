/** The generated CRD file and its text (the drift test compares the two). */
import { stringify } from 'yaml';
import { agentPolicyCrd } from './agent-policy-crd.js';

export const AGENT_POLICY_CRD_FILE = 'deploy/crds/agentpolicy.yaml';

export function agentPolicyCrdYaml(): string {
  return (
    '# Generated from authz/policy/schema.ts by `npm run generate:crd` (generator/kube/agent-policy-crd.ts): do not edit.\n' +
    stringify(agentPolicyCrd(), { lineWidth: 0 })
  );
}
