/**
 * Validation against the CiliumNetworkPolicy / CiliumClusterwideNetworkPolicy CRD schema of the Cilium version a
 * user runs (`kubectl get crd ciliumnetworkpolicies.cilium.io -o yaml`), with Ajv, plus the check the schema cannot
 * do: unknown fields. The CRD has no `additionalProperties: false`, so the API server silently prunes unknown fields
 * — which can change a rule's meaning (an `egressDeny[].toFQDNs` would vanish). We reject them.
 *
 * JS gotcha: the CRD's `spec.log.value` pattern `^\PC*$` is Go/RE2 syntax; it becomes `^\P{C}*$` under the `u` flag.
 */
import { Ajv, type ValidateFunction } from 'ajv';
import { parse as parseYaml } from 'yaml';
import { readTextFile } from '../../authz/config/index.js';
import { PhiguardError, type Finding } from '../../authz/model/index.js';

/** The codes this validator emits. */
export const CRD_FINDING_CODES = {
  /** The CRD's openAPIV3Schema rejects the document (the API server would refuse it). */
  schema: 'crd-schema',
  /** A field the schema does not define (the API server would prune it silently). */
  unknownField: 'crd-unknown-field',
} as const;
export type CrdFindingCode = (typeof CRD_FINDING_CODES)[keyof typeof CRD_FINDING_CODES];

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
  /** Findings (JSON Pointer paths) for `doc`, read from `file` if it came from one. */
  validate(doc: unknown, file?: string): Finding<CrdFindingCode>[];
}

/**
 * Builds a validator from a CRD document (or a `kind: List` holding one). Throws a `config` PhiguardError with a clear
 * message if it is unusable.
 */
export function crdValidatorFromDoc(doc: unknown): CrdValidator {
  const crd =
    isObj(doc) && doc['kind'] === 'List' && Array.isArray(doc['items']) ? (doc['items'] as unknown[])[0] : doc;
  if (!isObj(crd) || crd['kind'] !== 'CustomResourceDefinition')
    throw new PhiguardError('config', 'not a CustomResourceDefinition');
  const spec = crd['spec'] as Json | undefined;
  const kindValue = (spec?.['names'] as Json | undefined)?.['kind'];
  const kind = typeof kindValue === 'string' ? kindValue : '';
  const versions = (spec?.['versions'] as Json[] | undefined) ?? [];
  const v2 = versions.find((v) => v['name'] === 'v2') ?? versions.find((v) => v['storage'] === true);
  const schema = (v2?.['schema'] as Json | undefined)?.['openAPIV3Schema'];
  if (!isObj(schema)) throw new PhiguardError('config', 'the CRD has no v2 openAPIV3Schema');
  const clean = sanitize(schema) as Json;
  const ajv = new Ajv({ strict: false, allErrors: true, unicodeRegExp: true });
  const check: ValidateFunction = ajv.compile(clean);
  return {
    kind,
    validate(doc, file = '') {
      const findings: Finding<CrdFindingCode>[] = [];
      if (!check(doc)) {
        for (const e of check.errors ?? []) {
          const allowed = e.params && 'allowedValues' in e.params ? ` (${JSON.stringify(e.params.allowedValues)})` : '';
          const message = `schema: ${e.message ?? 'invalid'}${allowed}`;
          findings.push({
            code: CRD_FINDING_CODES.schema,
            severity: 'error',
            file,
            path: e.instancePath || '/',
            message,
          });
        }
      }
      for (const u of unknownFields(clean, doc, '')) {
        findings.push({
          code: CRD_FINDING_CODES.unknownField,
          severity: 'error',
          file,
          path: u.path,
          message: u.message,
        });
      }
      return findings;
    },
  };
}

/** Reads a CRD file into a validator; throws a PhiguardError (`io` or `config`) if it is unreadable or unusable. */
export function loadCrdValidator(file: string): CrdValidator {
  const text = readTextFile(file);
  if (!text.ok) throw text.error;
  let doc: unknown;
  try {
    doc = parseYaml(text.value);
  } catch (e) {
    throw new PhiguardError(
      'config',
      `not valid YAML: ${e instanceof Error ? (e.message.split('\n')[0] ?? '') : 'unreadable'}`,
      { cause: e },
    );
  }
  return crdValidatorFromDoc(doc);
}

/** Loads several CRD files into validators by kind; throws a PhiguardError naming the file that is unusable. */
export function loadCrdValidators(files: readonly string[]): Record<string, CrdValidator> {
  const out: Record<string, CrdValidator> = {};
  for (const f of files) {
    try {
      const v = loadCrdValidator(f);
      out[v.kind] = v;
    } catch (e) {
      const code = e instanceof PhiguardError ? e.code : 'config';
      const reason =
        e instanceof PhiguardError && e.code === 'io'
          ? (e.findings[0]?.message ?? e.message)
          : e instanceof Error
            ? e.message
            : 'unusable CRD';
      throw new PhiguardError(code, `${f}: ${reason}`, { cause: e });
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
      for (const [k, v] of Object.entries(sub.props))
        if (!(k in props) || Object.keys(props[k] ?? {}).length === 0) props[k] = v;
      open ||= sub.open;
    }
  }
  return { props, open };
}

/** An unknown field: where, and why it matters. */
interface Unknown {
  path: string;
  message: string;
}

function unknownFields(schema: Json, value: unknown, path: string): Unknown[] {
  const out: Unknown[] = [];
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
    else if (isObj(schema['additionalProperties']))
      out.push(...unknownFields(schema['additionalProperties'], v, `${path}/${k}`));
    else if (hasProps && !open)
      out.push({
        path: `${path}/${k}`,
        message: `unknown field "${k}" (the API server would prune it, changing the policy's meaning)`,
      });
  }
  return out;
}
