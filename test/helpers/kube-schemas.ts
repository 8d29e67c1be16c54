/**
 * The resources the loopback API server serves, each with its real schema: built-in kinds through kubernetes-models
 * (generated from the Kubernetes OpenAPI), custom resources through their CRD's openAPIV3Schema (Ajv, plus unknown
 * fields, which the API server would prune: generator/cilium/crd-schema.ts).
 */
import { crdValidatorFromDoc } from '../../generator/cilium/crd-schema.js';
import type { KubeResource } from './kube-api-server.js';

interface Model {
  validate(): void;
}
type ModelClass = new (data: unknown) => Model;

/** A built-in kind validated with its kubernetes-models class (`kubernetes-models/<apiVersion>/<Kind>`). */
export async function builtinResource(
  apiVersion: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  status = false,
): Promise<KubeResource> {
  return modelResource(`kubernetes-models/${apiVersion}/${kind}`, apiVersion, kind, plural, namespaced, status);
}

/** An Istio kind validated with its @kubernetes-models/istio class (generated from Istio's CRDs). */
export async function istioResource(apiVersion: string, kind: string, plural: string): Promise<KubeResource> {
  return modelResource(`@kubernetes-models/istio/${apiVersion}/${kind}`, apiVersion, kind, plural, true);
}

async function modelResource(
  module: string,
  apiVersion: string,
  kind: string,
  plural: string,
  namespaced: boolean,
  status = false,
): Promise<KubeResource> {
  const [group, version] = apiVersion.includes('/') ? apiVersion.split('/') : ['', apiVersion];
  const mod = (await import(module)) as Record<string, ModelClass | undefined>;
  const Model = mod[kind];
  if (Model === undefined) throw new Error(`${module} has no ${kind}`);
  return {
    group: group ?? '',
    version: version ?? '',
    kind,
    plural,
    namespaced,
    status,
    validate: (obj) => {
      try {
        new Model(obj).validate();
        return [];
      } catch (e) {
        return [e instanceof Error ? e.message : String(e)];
      }
    },
  };
}

/** A custom resource served as its CRD defines it (group, served version, plural, scope, status subresource). */
export function crdResource(crd: unknown): KubeResource {
  const c = crd as {
    spec: {
      group: string;
      names: { kind: string; plural: string };
      scope: string;
      versions: Array<{ name: string; storage?: boolean; subresources?: { status?: object } }>;
    };
  };
  const v = c.spec.versions.find((x) => x.storage === true) ?? c.spec.versions[0];
  if (v === undefined) throw new Error('CRD without versions');
  const validator = crdValidatorFromDoc(crd);
  return {
    group: c.spec.group,
    version: v.name,
    kind: c.spec.names.kind,
    plural: c.spec.names.plural,
    namespaced: c.spec.scope === 'Namespaced',
    status: v.subresources?.status !== undefined,
    validate: (obj) => validator.validate(obj).map((f) => `${f.path}: ${f.message}`),
  };
}
