/**
 * The AgentPolicy CustomResourceDefinition (`agentpolicies.phiguard.io`, version v1alpha1), generated from the zod
 * schema of the policy files (authz/policy/schema.ts) so the resource and the files accept the same spec.
 * `npm run generate:crd` writes it to deploy/crds/agentpolicy.yaml; a test fails when the file and the schema drift.
 *
 * The JSON Schema zod emits (`z.toJSONSchema`, input side) is made structural as the API server requires
 * (https://kubernetes.io/docs/tasks/extend-kubernetes/custom-resources/custom-resource-definitions/#specifying-a-structural-schema):
 * no `$schema`, no `propertyNames`, no `additionalProperties: false` beside `properties` (the API server prunes
 * unknown fields instead, and `kubectl apply --validate=strict` / phiguard reject them), no non-Kubernetes `format`.
 * Defaults are left to the service (zod applies them when it compiles), so a stored object is what its author wrote.
 * What JSON Schema cannot say (a rule has exactly one of allow/deny; CEL that compiles) is reported in `status`.
 */
import { z } from 'zod';
import { AgentPolicySchema } from '../../authz/policy/index.js';
import { AGENT_POLICY } from '../../authz/kube/index.js';

type Json = Record<string, unknown>;
const isObj = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Makes zod's JSON Schema a structural Kubernetes schema (see the header). */
export function structural(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(structural);
  if (!isObj(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k === '$schema' || k === 'propertyNames' || k === 'default' || k === 'format') continue;
    if (k === 'additionalProperties' && v === false) continue;
    out[k] =
      k === 'properties' && isObj(v)
        ? Object.fromEntries(Object.entries(v).map(([p, s]) => [p, structural(s)]))
        : structural(v);
  }
  return out;
}

const condition = {
  type: 'object',
  required: ['type', 'status', 'lastTransitionTime', 'reason', 'message'],
  properties: {
    type: { type: 'string', maxLength: 316 },
    status: { type: 'string', enum: ['True', 'False', 'Unknown'] },
    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
    lastTransitionTime: { type: 'string', format: 'date-time' },
    reason: { type: 'string', maxLength: 1024, minLength: 1, pattern: '^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$' },
    message: { type: 'string', maxLength: 32768 },
  },
};

/** The CRD object. */
export function agentPolicyCrd(): Json {
  const spec = structural(z.toJSONSchema(AgentPolicySchema.shape.spec, { io: 'input', unrepresentable: 'any' }));
  return {
    apiVersion: 'apiextensions.k8s.io/v1',
    kind: 'CustomResourceDefinition',
    metadata: {
      name: `${AGENT_POLICY.plural}.${AGENT_POLICY.group}`,
      labels: { 'app.kubernetes.io/name': 'phiguard', 'app.kubernetes.io/component': 'policy' },
    },
    spec: {
      group: AGENT_POLICY.group,
      names: {
        kind: AGENT_POLICY.kind,
        listKind: `${AGENT_POLICY.kind}List`,
        plural: AGENT_POLICY.plural,
        singular: 'agentpolicy',
        shortNames: ['agp'],
        categories: ['phiguard'],
      },
      scope: 'Namespaced',
      versions: [
        {
          name: AGENT_POLICY.version,
          served: true,
          storage: true,
          subresources: { status: {} },
          additionalPrinterColumns: [
            { name: 'Ready', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].status' },
            { name: 'Reason', type: 'string', jsonPath: '.status.conditions[?(@.type=="Ready")].reason' },
            { name: 'Tier', type: 'string', jsonPath: '.spec.tier' },
            { name: 'Policy-Version', type: 'string', jsonPath: '.status.policyVersion' },
            { name: 'Age', type: 'date', jsonPath: '.metadata.creationTimestamp' },
          ],
          schema: {
            openAPIV3Schema: {
              type: 'object',
              description: 'The policy of one AI agent (the same spec as a phiguard policy file).',
              required: ['spec'],
              properties: {
                apiVersion: { type: 'string' },
                kind: { type: 'string' },
                metadata: { type: 'object' },
                spec,
                status: {
                  type: 'object',
                  properties: {
                    observedGeneration: { type: 'integer', format: 'int64', minimum: 0 },
                    policyVersion: {
                      type: 'string',
                      description: 'The version (content hash) of the policy set the service enforces.',
                    },
                    conditions: {
                      type: 'array',
                      items: condition,
                      'x-kubernetes-list-type': 'map',
                      'x-kubernetes-list-map-keys': ['type'],
                    },
                  },
                },
              },
            },
          },
        },
      ],
    },
  };
}
