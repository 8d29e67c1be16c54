import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

/** A temp directory with the given files; remove() deletes it. */
export function tempDir(files: Record<string, string> = {}): {
  dir: string;
  write: (name: string, text: string) => string;
  remove: () => void;
} {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'phiguard-test-'));
  const write = (name: string, text: string): string => {
    const p = path.join(dir, name);
    writeFileSync(p, text);
    return p;
  };
  for (const [k, v] of Object.entries(files)) write(k, v);
  return { dir, write, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

/** A minimal valid agent policy document. */
export function policyYaml(
  name: string,
  rules: string,
  selector = `principal: spiffe://cluster.local/ns/${name}/sa/${name}`,
  extra = '',
): string {
  return `apiVersion: phiguard.io/v1alpha1
kind: AgentPolicy
metadata:
  name: ${name}
spec:
  selector:
    ${selector}
  tier: live
${extra}  rules:
${rules}
`;
}

/**
 * The example BAA registry with its agreements' expiry dates pushed to 2099, for tests that evaluate coverage at the
 * real current time (so the suite does not start failing when an example agreement lapses).
 */
export function timelessRegistry(dest: string): string {
  const text = readFileSync('examples/baa/registry.yaml', 'utf8').replace(/expires: "20\d\d-\d\d-\d\d"/g, (m) =>
    m.includes('2026-03-01') ? m : 'expires: "2099-12-31"',
  );
  writeFileSync(dest, text);
  return dest;
}
