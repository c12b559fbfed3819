import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  cpSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readYaml, repoPath } from './shared.ts';

interface Service {
  secrets?: (string | { source: string })[];
}
const compose = readYaml('docker-compose.yml') as {
  services: Record<string, Service>;
  secrets: Record<string, { file: string }>;
};

/** The user each service's image reads its secrets as. */
const CONTAINER_USERS: Record<string, number> = {
  // postgres: the entrypoint re-executes itself and runs the init scripts as postgres.
  postgresql: 999,
  grafana: 472,
  // temporalio/server and admin-tools: the temporal user.
  'temporal-schema': 1000,
  temporal: 1000,
  // This repository's image: USER node.
  migrate: 1000,
  worker: 1000,
  api: 1000,
};

const secretsOf = (service: Service) =>
  (service.secrets ?? []).map((s) => (typeof s === 'string' ? s : s.source));

/** Root and a mount namespace of our own: what it takes to mount a file as Docker does. */
const canMount =
  process.getuid?.() === 0 && spawnSync('unshare', ['--mount', 'true'], { stdio: 'ignore' }).status === 0;

/**
 * deploy/make-secrets.sh run as an operator runs it; then every container's read of its secrets
 * done the way Compose sets it up for a file secret: the host file bind-mounted at
 * /run/secrets/<name> with its host owner and mode, read by the image's user.
 */
describe('deploy/make-secrets.sh', () => {
  const work = mkdtempSync(path.join(os.tmpdir(), 'feishu-user-auth-secrets-'));
  const deploy = path.join(work, 'deploy');
  const secretFile = (id: string) => path.join(work, compose.secrets[id]!.file);

  beforeAll(() => {
    // Traversable, as /run/secrets is in a container (mkdtemp makes it 0700).
    chmodSync(work, 0o755);
    mkdirSync(path.join(deploy, 'secrets'), { recursive: true });
    cpSync(repoPath('deploy', 'make-secrets.sh'), path.join(deploy, 'make-secrets.sh'));
    // A secret left by an earlier version of the script, 0600 in a directory others could enter.
    chmodSync(path.join(deploy, 'secrets'), 0o755);
    writeFileSync(path.join(deploy, 'secrets', 'postgres_password'), 'from-an-earlier-run', { mode: 0o600 });
    const made = spawnSync('sh', [path.join(deploy, 'make-secrets.sh')], { encoding: 'utf8' });
    expect(made.status, `${made.stdout}${made.stderr}`).toBe(0);
  });
  afterAll(() => rmSync(work, { recursive: true, force: true }));

  it('keeps existing values and makes every file compose declares', () => {
    expect(readFileSync(secretFile('postgres_password'), 'utf8')).toBe('from-an-earlier-run');
    for (const id of Object.keys(compose.secrets)) expect(statSync(secretFile(id)).isFile(), id).toBe(true);
  });

  it('closes the directory to everyone but its owner', () => {
    expect(statSync(path.join(deploy, 'secrets')).mode & 0o777).toBe(0o700);
  });

  it.skipIf(!canMount)("lets each container's user read the secrets compose mounts for it", () => {
    const mounting = Object.entries(compose.services).filter(([, s]) => secretsOf(s).length > 0);
    expect(mounting.map(([name]) => name).filter((name) => !(name in CONTAINER_USERS))).toEqual([]);
    for (const [name, service] of mounting) {
      const uid = CONTAINER_USERS[name]!;
      const run = path.join(work, `run-${name}`);
      mkdirSync(run);
      const script = secretsOf(service)
        .map((id) => {
          const target = path.join(run, id);
          writeFileSync(target, '');
          return `mount --bind '${secretFile(id)}' '${target}' && setpriv --reuid=${uid} --regid=${uid} --clear-groups cat '${target}' >/dev/null || echo "cannot read ${id}"`;
        })
        .join('\n');
      const read = spawnSync('unshare', ['--mount', 'sh', '-c', script], { encoding: 'utf8' });
      expect(read.status, read.stderr).toBe(0);
      expect(read.stdout.trim().split('\n').filter(Boolean), `${name} as uid ${uid}`).toEqual([]);
    }
  });

  it.skipIf(!canMount)('keeps other users of this host out', () => {
    const read = spawnSync(
      'setpriv',
      ['--reuid=999', '--regid=999', '--clear-groups', 'cat', secretFile('postgres_password')],
      { encoding: 'utf8' },
    );
    expect(read.status).not.toBe(0);
  });
});
