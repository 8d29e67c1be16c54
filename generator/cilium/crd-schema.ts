/**
 * Validation against the CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy CRD schema of the Cilium version a
 * user runs (`kubectl get crd ciliumnetworkpolicies.cilium.io -o yaml`), with Ajv, plus the check the schema cannot
 * do: unknown fields. The CRD has no `additionalProperties: false`, so the API server silently prunes unknown fields
 * — which can change a rule's meaning (an `egressDeny[].toFQDNs` would vanish). We reject them.
 *
 * JS gotcha: the CRD's `spec.log.value` pattern `^\PC*$` is Go/RE2 syntax; it becomes `^\P{C}*$` under the `u` flag.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import yaml from 'js-yaml';

export interface SchemaFinding {
  path: string;
  message: string;
}

type Json = Record<string, unknown>;

function isObj(v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Drops Kubernetes extensions and `format`, and rewrites RE2-only pattern syntax for JavaScript. */
function sanitize(node: unknown): unknown {
  if (Array.isArray(node)) return node.map(sanitize);
  if (!isObj(node)) return node;
  const out: Json = {};
  for (const [k, v] of Object.entries(node)) {
    if (k.startsWith('x-kubernetes-') || k === 'format') continue;
    if (k === 'pattern' && typeof v === 'string') out[k] = v.replace(/\\PC/g, '\\P{C}');
    else out[k] = sanitize(v);
  }
  return out;
}

export interface CrdValidator {
  kind: string;
  validate(doc: unknown): SchemaFinding[];
}

/** Builds a validator from a CRD document (or a `kind: List` holding one). Throws with a clear message if unusable. */
export function crdValidatorFromDoc(doc: unknown): CrdValidator {
  const crd = isObj(doc) && doc['kind'] === 'List' && Array.isArray(doc['items']) ? (doc['items'] as unknown[])[0] : doc;
  if (!isObj(crd) || crd['kind'] !== 'CustomResourceDefinition') throw new Error('not a CustomResourceDefinition');
  const spec = crd['spec'] as Json | undefined;
  const kindValue = (spec?.['names'] as Json | undefined)?.['kind'];
  const kind = typeof kindValue === 'string' ? kindValue : '';
  const versions = (spec?.['versions'] as Json[] | undefined) ?? [];
  const v2 = versions.find((v) => v['name'] === 'v2') ?? versions.find((v) => v['storage'] === true);
  const schema = (v2?.['schema'] as Json | undefined)?.['openAPIV3Schema'];
  if (!isObj(schema)) throw new Error('the CRD has no v2 openAPIV3Schema');
  const clean = sanitize(schema) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: true });
  const check: ValidateFunction = ajv.compile(clean);
  return {
    kind,
    validate(doc) {
      const findings: SchemaFinding[] = [];
      if (!check(doc)) {
        for (const e of check.errors ?? []) findings.push({ path: e.instancePath || '/', message: `schema: ${e.message ?? 'invalid'}${e.params && 'allowedValues' in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : ''}` });
      }
      findings.push(...unknownFields(clean, doc, ''));
      return findings;
    },
  };
}

export function loadCrdValidator(file: string): CrdValidator {
  return crdValidatorFromDoc(yaml.load(readFileSync(file, 'utf8')));
}

/** Loads several CRD files into validators by kind; throws naming the file that is unusable. */
export function loadCrdValidators(files: readonly string[]): Record<string, CrdValidator> {
  const out: Record<string, CrdValidator> = {};
  for (const f of files) {
    try {
      const v = loadCrdValidator(f);
      out[v.kind] = v;
    } catch (e) {
      throw new Error(`${f}: ${e instanceof Error ? e.message : 'unusable CRD'}`);
    }
  }
  return out;
}

/** Properties a schema node allows at this level, including those of its allOf/anyOf/oneOf branches. */
function allowedProps(schema: Json): { props: Record<string, Json>; open: boolean } {
  const props: Record<string, Json> = {};
  let open = schema['additionalProperties'] !== undefined && schema['additionalProperties'] !== false;
  if (isObj(schema['properties'])) Object.assign(props, schema['properties']);
  for (const key of ['allOf', 'anyOf', 'oneOf']) {
    const branches = schema[key];
    if (!Array.isArray(branches)) continue;
    for (const b of branches as unknown[]) {
      if (!isObj(b)) continue;
      const sub = allowedProps(b);
      // Branches often restate a property with an empty schema (`anyOf: [{properties: {egress: {}}, required: …}]`):
      // the real definition at this level must win.
      for (const [k, v] of Object.entries(sub.props)) if (!(k in props) || Object.keys(props[k] ?? {}).length === 0) props[k] = v;
      open ||= sub.open;
    }
  }
  return { props, open };
}

function unknownFields(schema: Json, value: unknown, path: string): SchemaFinding[] {
  const out: SchemaFinding[] = [];
  if (Array.isArray(value)) {
    const items = schema['items'];
    if (isObj(items)) value.forEach((v, i) => out.push(...unknownFields(items, v, `${path}/${i}`)));
    return out;
  }
  if (!isObj(value)) return out;
  const { props, open } = allowedProps(schema);
  const hasProps = Object.keys(props).length > 0;
  for (const [k, v] of Object.entries(value)) {
    const sub = props[k];
    if (sub) out.push(...unknownFields(sub, v, `${path}/${k}`));
    else if (isObj(schema['additionalProperties'])) out.push(...unknownFields(schema['additionalProperties'], v, `${path}/${k}`));
    else if (hasProps && !open) out.push({ path: `${path}/${k}`, message: `unknown field "${k}" (the API server would prune it, changing the policy's meaning)` });
  }
  return out;
}
