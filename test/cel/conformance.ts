/**
 * Runs the cel-spec conformance suite (as shipped in @bufbuild/cel-spec) against @marcbachmann/cel-js.
 * Only self-contained tests are run: no protobuf message types (objectValue, enumValue, containers, typeEnv with
 * messages), since phiguard's attribute model is plain maps and lists.
 */
import { Environment } from '@marcbachmann/cel-js';
import * as conformance from '@bufbuild/cel-spec/testdata/conformance.js';

interface Suite {
  name: string;
  suites?: Suite[];
  tests?: Array<{ original: Record<string, unknown> }>;
}

export interface ConformanceCase {
  id: string;
  expr: string;
  bindings: Record<string, unknown>;
  expect: { value: unknown } | { error: true };
  disableCheck: boolean;
}

const UNSUPPORTED_VALUE_KINDS = new Set(['objectValue', 'enumValue', 'typeValue']);

function usesUnsupported(v: unknown): boolean {
  if (typeof v !== 'object' || v === null) return false;
  for (const [k, x] of Object.entries(v)) {
    if (UNSUPPORTED_VALUE_KINDS.has(k)) return true;
    if (usesUnsupported(x)) return true;
  }
  return false;
}

/** Canonical string for an expected conformance Value (protobuf JSON). */
export function canonExpected(v: unknown): string {
  const o = v as Record<string, unknown>;
  if ('int64Value' in o) return `int:${String(o['int64Value'])}`;
  if ('uint64Value' in o) return `uint:${String(o['uint64Value'])}`;
  if ('doubleValue' in o) {
    const d = o['doubleValue'];
    return `double:${typeof d === 'number' || typeof d === 'string' ? String(d) : JSON.stringify(d)}`;
  }
  if ('stringValue' in o) return `string:${JSON.stringify(o['stringValue'])}`;
  if ('boolValue' in o) return `bool:${String(o['boolValue'])}`;
  if ('nullValue' in o) return 'null';
  if ('bytesValue' in o) return `bytes:${Buffer.from(String(o['bytesValue']), 'base64').toString('hex')}`;
  if ('listValue' in o) {
    const vals = ((o['listValue'] as { values?: unknown[] }).values ?? []).map(canonExpected);
    return `list:[${vals.join(',')}]`;
  }
  if ('mapValue' in o) {
    const entries = ((o['mapValue'] as { entries?: Array<{ key: unknown; value: unknown }> }).entries ?? []).map(
      (e) => `${canonKey(canonExpected(e.key))}=>${canonExpected(e.value)}`,
    );
    return `map:{${entries.sort().join(',')}}`;
  }
  return `unknown:${JSON.stringify(o)}`;
}

/** cel-js map keys lose their type (plain objects), so keys compare by their printed value. */
function canonKey(c: string): string {
  return c.replace(/^(int|uint|string|bool):/, '').replace(/^"(.*)"$/, '$1');
}

/** Canonical string for a cel-js result. */
export function canonActual(v: unknown): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'bigint') return `int:${v}`;
  if (typeof v === 'number') return `double:${String(v)}`;
  if (typeof v === 'string') return `string:${JSON.stringify(v)}`;
  if (typeof v === 'boolean') return `bool:${String(v)}`;
  if (v instanceof Uint8Array) return `bytes:${Buffer.from(v).toString('hex')}`;
  if (Array.isArray(v)) return `list:[${v.map(canonActual).join(',')}]`;
  if (typeof v === 'object' && (v.constructor?.name ?? '').startsWith('UnsignedInt'))
    return `uint:${String((v as { value: unknown }).value)}`;
  if (v instanceof Map)
    return `map:{${[...v.entries()]
      .map(([k, x]) => `${canonKey(canonActual(k))}=>${canonActual(x)}`)
      .sort()
      .join(',')}}`;
  if (typeof v === 'object')
    return `map:{${Object.entries(v)
      .map(([k, x]) => `${k}=>${canonActual(x)}`)
      .sort()
      .join(',')}}`;
  return `unknown:${typeof v}`;
}

function bindingValue(b: unknown): { ok: true; value: unknown } | { ok: false } {
  const v = (b as { value?: Record<string, unknown> }).value;
  if (!v || usesUnsupported(v)) return { ok: false };
  const conv = (x: Record<string, unknown>): unknown => {
    if ('int64Value' in x) return BigInt(String(x['int64Value']));
    if ('doubleValue' in x) return Number(x['doubleValue']);
    if ('stringValue' in x) return x['stringValue'];
    if ('boolValue' in x) return x['boolValue'];
    if ('nullValue' in x) return null;
    if ('bytesValue' in x) return new Uint8Array(Buffer.from(String(x['bytesValue']), 'base64'));
    if ('listValue' in x)
      return ((x['listValue'] as { values?: Array<Record<string, unknown>> }).values ?? []).map(conv);
    throw new Error('unsupported binding');
  };
  try {
    return { ok: true, value: conv(v) };
  } catch {
    return { ok: false };
  }
}

/** The runnable cases, with ids `suite/subsuite/test`. */
export function conformanceCases(): ConformanceCase[] {
  const out: ConformanceCase[] = [];
  const walk = (s: Suite, prefix: string): void => {
    const here = prefix ? `${prefix}/${s.name}` : s.name;
    for (const t of s.tests ?? []) {
      const o = t.original;
      if (
        o['container'] !== undefined ||
        o['typeEnv'] !== undefined ||
        o['checkOnly'] === true ||
        o['typedResult'] !== undefined
      )
        continue;
      if (usesUnsupported(o['value'])) continue;
      if (/[A-Za-z_][A-Za-z0-9_.]*\s*\{/.test(String(o['expr']))) continue; // protobuf message construction
      const bindings: Record<string, unknown> = {};
      let skip = false;
      for (const [k, b] of Object.entries((o['bindings'] as Record<string, unknown> | undefined) ?? {})) {
        const r = bindingValue(b);
        if (!r.ok) skip = true;
        else bindings[k] = r.value;
      }
      if (skip) continue;
      const expect =
        o['evalError'] !== undefined
          ? ({ error: true } as const)
          : o['value'] !== undefined
            ? { value: o['value'] }
            : undefined;
      if (!expect) continue;
      out.push({
        id: `${here}/${String(o['name'])}`,
        expr: String(o['expr']),
        bindings,
        expect,
        disableCheck: o['disableCheck'] === true,
      });
    }
    for (const c of s.suites ?? []) walk(c, here);
  };
  const root = conformance.tests as unknown as Suite | Suite[];
  for (const s of Array.isArray(root) ? root : [root]) walk(s, '');
  return out;
}

/** Runs one case; returns undefined on pass, or a short reason. */
export function runCase(c: ConformanceCase): string | undefined {
  const env = new Environment({ unlistedVariablesAreDyn: true, homogeneousAggregateLiterals: false });
  let result: unknown;
  try {
    result = env.evaluate(c.expr, c.bindings);
  } catch (e) {
    if ('error' in c.expect) return undefined;
    return `threw: ${(e instanceof Error ? e.message : String(e)).split('\n')[0] ?? ''}`;
  }
  if ('error' in c.expect) return `expected an error, got ${canonActual(result)}`;
  const want = canonExpected(c.expect.value);
  const got = canonActual(result);
  if (want === got) return undefined;
  // NaN and -0 compare by printed form; accept numerically equal doubles.
  return `want ${want}, got ${got}`;
}
