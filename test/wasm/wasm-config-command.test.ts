/** `phiguard generate wasm-config`: the program it prints configures the filter; its flags are validated. */
import { describe, expect, test } from '@jest/globals';
import { cli } from '../helpers/cli.js';
import { hostFor, runFilter, SAN_PROPERTY } from './filter-harness.js';

/** `phiguard generate wasm-config --policies examples/policies --authz-cluster CLUSTER ...more`. */
const wasmConfig = (cluster: string, ...more: string[]): ReturnType<typeof cli> =>
  cli(['generate', 'wasm-config', '--policies', 'examples/policies', '--authz-cluster', cluster, ...more]);

describe('phiguard generate wasm-config', () => {
  test('prints a program the filter accepts, says which agents it defers and carries the policy version', async () => {
    const r = await wasmConfig('outbound|9191||phiguard.phiguard.svc.cluster.local');
    expect(r.code).toBe(0);
    expect(r.err).toContain('agent ambient-scribe is deferred: break-glass classes');
    expect(r.out).toMatch(/^phiguard-wasm-program\t1\npolicy\t[0-9a-f]+\n/);
    const h = await hostFor(r.out);
    expect(h.configured).toBe(true);
    const a = runFilter(h, {
      method: 'GET',
      path: '/fhir/_history',
      principal: 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor',
      headers: {},
      host: 'fhir.hospital.internal',
    });
    expect(a).toMatchObject({ kind: 'deny', status: 403, rule: 'no-bulk' });
  }, 120_000);

  test('--format plugin-config-json prints {"program": ...} for an Istio WasmPlugin, which the filter loads', async () => {
    const r = await wasmConfig('phiguard', '--format', 'plugin-config-json');
    expect(r.code).toBe(0);
    const parsed = JSON.parse(r.out) as { program: string };
    expect(Object.keys(parsed)).toEqual(['program']);
    expect(parsed.program.startsWith('phiguard-wasm-program\t1\n')).toBe(true);
    expect((await hostFor(r.out)).configured).toBe(true);
  }, 120_000);

  test('--defer-to next-filter: a deferred request goes on down the chain (to ext_authz) with no call and no state; denies stay in the proxy', async () => {
    const r = await wasmConfig('phiguard', '--defer-to', 'next-filter');
    expect(r.code).toBe(0);
    expect(r.out).toContain('\ndefer-to\tnext-filter\n');
    const h = await hostFor(r.out);
    expect(h.configured).toBe(true);
    const principal = 'spiffe://cluster.local/ns/cds/sa/sepsis-advisor';
    const host = 'fhir.hospital.internal';
    const deferred = h.request(
      [
        [':method', 'GET'],
        [':path', '/fhir/Observation?patient=p-1'],
        [':authority', host],
      ],
      { [SAN_PROPERTY]: principal },
    );
    expect(deferred.action).toBe(0);
    expect(deferred.localResponse).toBeUndefined();
    expect(deferred.filterState.size).toBe(0);
    expect(h.grpcCalls.size).toBe(0);
    h.finish(deferred);
    expect(runFilter(h, { method: 'GET', path: '/fhir/_history', principal, headers: {}, host })).toMatchObject({
      kind: 'deny',
      rule: 'no-bulk',
    });
    // A program that pairs next-filter with an ALLOW cell is not one the generator writes: the filter refuses it.
    const allowing = r.out.replace(/\nverdict\tdeny\t/, '\nverdict\tallow\t');
    expect((await hostFor(allowing)).configured).toBe(false);
  }, 120_000);

  test.each([
    [['--policies', 'examples/policies', '--authz-cluster', 'x', '--format', 'yaml'], '--format'],
    [['--policies', 'examples/policies'], "required option '--authz-cluster <name>'"],
    [['--policies', 'examples/policies', '--authz-cluster', 'x', '--timeout-ms', '0'], '--timeout-ms'],
    [['--policies', 'examples/policies', '--authz-cluster', 'x', '--defer-header', 'bad header'], '--defer-header'],
    [['--policies', 'does/not/exist', '--authz-cluster', 'x'], 'cannot read policy directory'],
    [['--policies', 'examples/policies', '--authz-cluster', 'x', '--defer-to', 'elsewhere'], '--defer-to'],
    [
      ['--policies', 'examples/policies', '--authz-cluster', 'x', '--defer-to', 'next-filter', '--allow-in-proxy'],
      '--allow-in-proxy with --defer-to next-filter',
    ],
  ])('refuses %j', async (args, message) => {
    const r = await cli(['generate', 'wasm-config', ...args]);
    expect(r.code).not.toBe(0);
    expect(r.err).toContain(message);
  });
});
