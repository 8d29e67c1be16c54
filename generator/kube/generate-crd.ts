/** `npm run generate:crd`: writes deploy/crds/agentpolicy.yaml from the policy schema (agent-policy-crd.ts). */
import { writeFileSync } from 'node:fs';
import { agentPolicyCrdYaml, AGENT_POLICY_CRD_FILE } from './crd-file.js';

writeFileSync(AGENT_POLICY_CRD_FILE, agentPolicyCrdYaml());
process.stdout.write(`wrote ${AGENT_POLICY_CRD_FILE}\n`);
