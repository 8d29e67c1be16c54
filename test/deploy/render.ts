/**
 * The deploy package as a platform team applies it: each kustomization under deploy/ rendered with `kubectl
 * kustomize` (kubectl's built-in kustomize), the way `kubectl apply -k` renders it. Tests that need kubectl skip
 * loudly without it.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { test } from '@jest/globals';
import yaml from 'js-yaml';

export type Obj = Record<string, unknown>;

/** Every kustomization the package ships: the base and each overlay. */
export const KUSTOMIZATIONS = [
  'deploy/base',
  'deploy/overlays/istio',
  'deploy/overlays/istio-wasm',
  'deploy/overlays/envoy',
] as const;
export type Kustomization = (typeof KUSTOMIZATIONS)[number];

const KUBECTL = ['/usr/bin/kubectl', '/usr/local/bin/kubectl'].find((p) => existsSync(p));

/** The rendered YAML text of a kustomization, or undefined without kubectl. */
export function renderText(dir: string): string | undefined {
  if (KUBECTL === undefined) return undefined;
  return execFileSync(KUBECTL, ['kustomize', dir], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

/** The rendered objects of a kustomization ([] without kubectl: the tests that use them are skipped). */
export function render(dir: string): Obj[] {
  const text = renderText(dir);
  return text === undefined ? [] : (yaml.loadAll(text) as Obj[]);
}

/** `test`, or `test.skip` after one loud line when kubectl is not installed. */
export function testWhenKubectl(what: string): typeof test.skip {
  if (KUBECTL !== undefined) return test;
  process.stderr.write(`\n*** SKIPPED ***: ${what}: needs kubectl (kubectl kustomize), which is not installed\n\n`);
  return test.skip;
}

/** A value at a path of keys and indexes (undefined where the path ends). */
export function at(o: unknown, ...keys: Array<string | number>): unknown {
  let cur: unknown = o;
  for (const k of keys) cur = (cur as Record<string | number, unknown> | undefined)?.[k];
  return cur;
}

export const arr = (v: unknown): Obj[] => (Array.isArray(v) ? (v as Obj[]) : []);
export const nameOf = (d: Obj): string => String(at(d, 'metadata', 'name'));
export const nsOf = (d: Obj): string => String(at(d, 'metadata', 'namespace'));
