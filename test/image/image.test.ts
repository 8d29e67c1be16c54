/**
 * The container image, built by `npm run image` (scripts/build-image.sh) from this checkout and run the way
 * deploy/base/deployment.yaml runs it: read-only root, user 10001, no capabilities, the PHIGUARD_* environment, the
 * policies and BAA registry mounted read-only and the audit trail on a writable volume. A real Check goes in through
 * the published gRPC port (the repository's Envoy-proto client) and its decision and audit record come back.
 *
 * Needs podman, buildah and runc (Debian packages; .ci/run installs them as root) and the npm registry or its cache;
 * without them every test here is reported as skipped, after a loud line. PHIGUARD_TEST_IMAGE=<name> tests an image
 * built beforehand instead of building one.
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from '@jest/globals';
import { CheckInputSchema } from '../../authz/index.js';
import { createCheckClient, toGrpcCheckRequest, type CheckClient } from '../../generator/call/index.js';
import { eventually } from '../helpers/cli.js';
import { exampleRequest } from '../helpers/server.js';
import { tempDir } from '../helpers/temp.js';

/** runc from Debian: the runtime these machines run containers with (podman's default crun is not installed). */
const RUNC = '/usr/sbin/runc';
/** The limits the container runs under here (the sandbox's own are lower than podman's defaults). */
const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

function run(cmd: string, args: readonly string[], timeoutMs = 60_000): { code: number; out: string; err: string } {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout: timeoutMs, maxBuffer: 256 * 1024 * 1024 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}
const has = (cmd: string): boolean => run(cmd, ['--version']).code === 0;

const missing = [
  ...(has('podman') ? [] : ['podman']),
  ...(has('buildah') ? [] : ['buildah']),
  ...(existsSync(RUNC) ? [] : [RUNC]),
];
const given = process.env['PHIGUARD_TEST_IMAGE'];
const testWithPodman: typeof test.skip = missing.length === 0 ? test : test.skip;
if (missing.length > 0) {
  process.stderr.write(
    `\n*** SKIPPED ***: the container image tests need ${missing.join(', ')} (apt-get install podman buildah runc)\n\n`,
  );
}

/** The final stage of the Dockerfile: the settings an image built from it has. */
function dockerfileFinalStage(): {
  user: string;
  workdir: string;
  env: string[];
  ports: string[];
  entrypoint: string[];
  cmd: string[];
} {
  const lines = readFileSync('Dockerfile', 'utf8').split('\n');
  const from = lines.map((l) => /^FROM\s/i.test(l)).lastIndexOf(true);
  const stage = lines.slice(from);
  const directive = (name: string): string => {
    const line = stage.find((l) => l.toUpperCase().startsWith(`${name} `));
    if (line === undefined) throw new Error(`Dockerfile final stage has no ${name}`);
    return line.slice(name.length + 1).trim();
  };
  return {
    user: directive('USER'),
    workdir: directive('WORKDIR'),
    env: directive('ENV').split(/\s+/),
    ports: directive('EXPOSE').split(/\s+/),
    entrypoint: JSON.parse(directive('ENTRYPOINT')) as string[],
    cmd: JSON.parse(directive('CMD')) as string[],
  };
}

interface Entry {
  mode: string;
  owner: string;
  path: string;
}

/** `tar -tv` of the image's filesystem (GNU tar: `mode uid/gid size date time path[ -> target]`). */
function listImage(image: string): Entry[] {
  const created = run('podman', ['create', '--pull=never', image]);
  if (created.code !== 0) throw new Error(`podman create: ${created.err}`);
  const id = created.out.trim();
  const dir = tempDir();
  try {
    const tar = path.join(dir.dir, 'rootfs.tar');
    const exported = run('podman', ['export', '-o', tar, id]);
    if (exported.code !== 0) throw new Error(`podman export: ${exported.err}`);
    const listed = run('tar', ['--numeric-owner', '-tvf', tar]);
    return listed.out
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => {
        const [mode = '', owner = '', , , , ...rest] = l.split(/\s+/);
        return {
          mode,
          owner,
          path: rest
            .join(' ')
            .replace(/ -> .*$/, '')
            .replace(/\/$/, ''),
        };
      });
  } finally {
    run('podman', ['rm', '-f', id]);
    dir.remove();
  }
}

describe('the phiguard image', () => {
  let image = given ?? '';
  let built = false;
  let entries: Entry[] = [];

  beforeAll(() => {
    if (missing.length > 0) return;
    if (given === undefined) {
      image = `localhost/phiguard:test-${process.pid}`;
      const b = run('bash', ['scripts/build-image.sh', image], 900_000);
      if (b.code !== 0) throw new Error(`npm run image failed (${b.code}):\n${b.err.slice(-4000)}`);
      process.stdout.write(
        `${b.err
          .split('\n')
          .filter((l) => l.startsWith('build-image:'))
          .join('\n')}\n`,
      );
      built = true;
    }
    entries = listImage(image);
  }, 900_000);

  afterAll(() => {
    if (built) run('podman', ['rmi', '-f', image]);
  });

  testWithPodman(
    'has the Dockerfile final stage settings: user 10001, /app, node entrypoint, serve, ports, env',
    () => {
      const inspected = run('podman', ['image', 'inspect', '--format', '{{json .Config}}', image]);
      const config = JSON.parse(inspected.out) as {
        User: string;
        WorkingDir: string;
        Env?: string[];
        ExposedPorts?: Record<string, unknown>;
        Entrypoint: string[];
        Cmd: string[];
      };
      const docker = dockerfileFinalStage();
      expect(config.User).toBe(docker.user);
      expect(config.User).toBe('10001:10001');
      expect(config.WorkingDir).toBe(docker.workdir);
      expect(config.Env).toEqual(expect.arrayContaining(docker.env));
      expect(
        Object.keys(config.ExposedPorts ?? {})
          .map((p) => p.replace(/\/tcp$/, ''))
          .sort(),
      ).toEqual([...docker.ports].sort());
      expect(config.Entrypoint).toEqual(docker.entrypoint);
      expect(config.Cmd).toEqual(docker.cmd);
    },
  );

  testWithPodman('holds node, the app, its runtime libraries and /etc; no shell; nothing writable; root-owned', () => {
    const tops = new Set(entries.map((e) => e.path.split('/')[0]));
    expect([...tops].sort()).toEqual(['app', 'etc', 'lib', 'lib64', 'tmp', 'usr']);
    const outsideApp = entries.filter((e) => !e.path.startsWith('app/'));
    const executables = outsideApp.filter((e) => e.mode.startsWith('-') && /x/.test(e.mode)).map((e) => e.path);
    // The binary and the shared objects it loads; no shell, coreutils or package manager.
    expect(executables.filter((p) => !/\.so(\.\d+)*$/.test(p))).toEqual(['usr/local/bin/node']);
    expect(
      outsideApp.map((e) => e.path).filter((p) => /(^|\/)(sh|bash|dash|busybox|apt|dpkg|npm|env)$/.test(p)),
    ).toEqual([]);
    expect(entries.filter((e) => e.owner !== '0/0').map((e) => e.path)).toEqual([]);
    const writable = entries.filter((e) => !e.mode.startsWith('l') && /^.....w|^........w/.test(e.mode));
    expect(writable.map((e) => `${e.mode} ${e.path}`)).toEqual(['drwxrwxrwt tmp']);
  });

  testWithPodman('carries the production dependencies from package-lock.json and none of the development ones', () => {
    const lock = JSON.parse(readFileSync('package-lock.json', 'utf8')) as {
      packages: Record<string, { dev?: boolean; optional?: boolean; devOptional?: boolean }>;
    };
    const inImage = new Set(entries.filter((e) => e.path.endsWith('/package.json')).map((e) => e.path));
    const manifest = (key: string): string => `app/${key}/package.json`;
    const lockPackages = Object.entries(lock.packages).filter(([key]) => key.startsWith('node_modules/'));
    const production = lockPackages.filter(([, p]) => p.dev !== true && p.optional !== true && p.devOptional !== true);
    const development = lockPackages.filter(([, p]) => p.dev === true);
    expect(production.length).toBeGreaterThan(20);
    expect(production.map(([key]) => key).filter((key) => !inImage.has(manifest(key)))).toEqual([]);
    expect(development.map(([key]) => key).filter((key) => inImage.has(manifest(key)))).toEqual([]);
    expect(entries.some((e) => e.path.startsWith('app/authz') || e.path.startsWith('app/generator'))).toBe(false);
    expect(entries.some((e) => e.path === 'app/dist/generator/cli.js')).toBe(true);
    expect(entries.some((e) => e.path === 'usr/share/doc/phiguard/LICENSE')).toBe(true);
  });

  // A sanity bound: Node is ~126 MB and the production dependencies ~120 MB; with the development dependencies
  // node_modules is over 400 MB.
  testWithPodman('is a reasonable size (Node alone is ~126 MB)', () => {
    const size = Number(run('podman', ['image', 'inspect', '--format', '{{.Size}}', image]).out.trim());
    process.stdout.write(`phiguard image ${image}: ${(size / 1e6).toFixed(0)} MB uncompressed\n`);
    expect(size).toBeGreaterThan(100e6);
    expect(size).toBeLessThan(300e6);
  });

  describe('running read-only as the Deployment runs it', () => {
    const name = `phiguard-test-${process.pid}`;
    const audit = path.join(os.tmpdir(), `phiguard-image-audit-${process.pid}`);
    let client: CheckClient | undefined;
    let metrics = '';

    beforeAll(async () => {
      if (missing.length > 0 || entries.length === 0) return; // no tools, or the image did not build (reported above)
      mkdirSync(audit, { recursive: true });
      // The audit volume belongs to the container's user, as a pod's fsGroup makes it.
      if (process.getuid?.() === 0) chownSync(audit, 10001, 10001);
      else chmodSync(audit, 0o777);
      const env = {
        PHIGUARD_HOST: '0.0.0.0',
        PHIGUARD_PORT: '9191',
        PHIGUARD_METRICS_PORT: '9464',
        PHIGUARD_POLICIES: '/etc/phiguard/policies',
        PHIGUARD_FHIR_BASE: '/fhir',
        PHIGUARD_BAA_REGISTRY: '/etc/phiguard/baa/registry.yaml',
        PHIGUARD_AUDIT_FILE: '/var/log/phiguard/audit/test.audit.jsonl',
        PHIGUARD_SHUTDOWN_GRACE_MS: '500',
      };
      const started = run('podman', [
        'run',
        '--pull=never',
        '--detach',
        '--name',
        name,
        '--runtime',
        RUNC,
        ...ULIMITS,
        '--read-only',
        '--read-only-tmpfs=false',
        '--cap-drop=ALL',
        '--security-opt=no-new-privileges',
        '--publish',
        '127.0.0.1::9191',
        '--publish',
        '127.0.0.1::9464',
        '--volume',
        `${path.resolve('examples/policies')}:/etc/phiguard/policies:ro`,
        '--volume',
        `${path.resolve('examples/baa')}:/etc/phiguard/baa:ro`,
        '--volume',
        `${audit}:/var/log/phiguard/audit`,
        ...Object.entries(env).flatMap(([k, v]) => ['--env', `${k}=${v}`]),
        image,
      ]);
      if (started.code !== 0) throw new Error(`podman run: ${started.err}`);
      const port = (p: number): string =>
        run('podman', ['port', name, `${p}/tcp`])
          .out.trim()
          .split('\n')[0] ?? '';
      metrics = `http://${port(9464)}`;
      await eventually(async () => {
        const r = await fetch(`${metrics}/readyz`).catch(() => undefined);
        return r?.status === 200;
      }, 60_000);
      client = createCheckClient(port(9191));
    }, 120_000);

    afterAll(() => {
      client?.close();
      run('podman', ['rm', '-f', '-t', '0', name]);
      rmSync(audit, { recursive: true, force: true });
    });

    const check = async (file: string): Promise<Record<string, unknown>> => {
      if (client === undefined) throw new Error('the container did not start');
      return client.check(toGrpcCheckRequest(CheckInputSchema.parse(exampleRequest(file))), 10_000);
    };
    const decisionId = (res: Record<string, unknown>): string | undefined =>
      (
        (res['ok_response'] ?? res['denied_response']) as
          { headers?: Array<{ header: { key: string; value: string } }> } | undefined
      )?.headers?.find((h) => h.header.key === 'x-phiguard-decision-id')?.header.value;

    testWithPodman(
      'answers a real Check: the scribe reads its encounter (OK), an unknown agent is denied',
      async () => {
        const allowed = await check('scribe-read-encounter.json');
        expect(allowed['status']).toEqual({ code: 0 });
        const denied = await check('unknown-agent.json');
        expect((denied['status'] as { code: number }).code).toBe(7);
        const ids = [decisionId(allowed), decisionId(denied)];
        expect(ids.every((id) => typeof id === 'string' && id.length > 0)).toBe(true);
        // Each answer left after its record was written to the audit volume.
        const lines = readFileSync(path.join(audit, 'test.audit.jsonl'), 'utf8')
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as { decisionId?: string; decision?: string });
        expect(ids.map((id) => lines.find((l) => l.decisionId === id)?.decision)).toEqual(['allow', 'deny']);
      },
    );

    testWithPodman('runs as 10001:10001 with no capabilities, and /readyz, /metrics answer', async () => {
      const pid = run('podman', ['inspect', '--format', '{{.State.Pid}}', name]).out.trim();
      const status = readFileSync(`/proc/${pid}/status`, 'utf8');
      expect(status).toMatch(/^Uid:\s+10001\s+10001\s+10001\s+10001$/m);
      expect(status).toMatch(/^Gid:\s+10001\s+10001\s+10001\s+10001$/m);
      expect(status).toMatch(/^CapEff:\s+0+$/m);
      expect(status).toMatch(/^NoNewPrivs:\s+1$/m);
      expect(await (await fetch(`${metrics}/readyz`)).json()).toMatchObject({ ready: true });
      expect(await (await fetch(`${metrics}/metrics`)).text()).toMatch(/^phiguard_/m);
    });

    testWithPodman('has no shell to run', () => {
      const r = run('podman', [
        'run',
        '--pull=never',
        '--rm',
        '--runtime',
        RUNC,
        ...ULIMITS,
        '--entrypoint',
        '/bin/sh',
        image,
        '-c',
        'true',
      ]);
      expect(r.code).not.toBe(0);
      expect(r.err).toMatch(/no such file or directory|not found/);
    });

    testWithPodman('drains on SIGTERM and exits 0 with the audit trail flushed', () => {
      const stopped = run('podman', ['stop', '-t', '20', name], 60_000);
      expect(stopped.code).toBe(0);
      expect(run('podman', ['inspect', '--format', '{{.State.ExitCode}}', name]).out.trim()).toBe('0');
      expect(run('podman', ['logs', name]).err).toMatch(/audit flushed/);
    });
  });
});
