import { chownSync, mkdirSync, readdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { run, waitFor } from '../../../scripts/stack/run.ts';

const ROLE = 'feishu_user_auth';
const DATABASE = 'feishu_user_auth_chaos';

/** A PostgreSQL cluster of the run's own, in a directory it owns: restarting it disturbs nobody else. */
export interface OwnedPostgres {
  databaseUrl: string;
  /** Stops the server as a crash would (immediate: no checkpoint) and starts it again. */
  restart(): Promise<void>;
  stop(): Promise<void>;
}

function binDir(): string {
  const base = '/usr/lib/postgresql';
  const versions = readdirSync(base)
    .filter((v) => /^\d+$/.test(v))
    .sort((a, b) => Number(b) - Number(a));
  if (versions.length === 0) throw new Error(`no PostgreSQL server under ${base}`);
  return path.join(base, versions[0]!, 'bin');
}

/**
 * initdb refuses to run as root: as root the cluster belongs to the `postgres` user, as anybody
 * else to them.
 */
async function asOwner(dir: string, cmd: string, args: string[]): Promise<void> {
  const asRoot = process.getuid?.() === 0;
  const result = asRoot
    ? await run('runuser', ['-u', 'postgres', '--', cmd, ...args], { cwd: dir })
    : await run(cmd, args, { cwd: dir });
  if (result.code !== 0) throw new Error(`${path.basename(cmd)} failed: ${result.stderr.trim()}`);
}

export async function startOwnedPostgres(dir: string, port: number): Promise<OwnedPostgres> {
  const bin = binDir();
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  if (process.getuid?.() === 0)
    chownSync(dir, Number(await uidOf('postgres')), Number(await gidOf('postgres')));
  const data = path.join(dir, 'data');
  await asOwner(dir, path.join(bin, 'initdb'), ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8']);
  const pgCtl = (...args: string[]) => asOwner(dir, path.join(bin, 'pg_ctl'), ['-D', data, ...args]);
  const options = `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off`;
  const start = () => pgCtl('-l', path.join(dir, 'server.log'), '-o', options, '-w', 'start');
  const psql = (sql: string) =>
    asOwner(dir, path.join(bin, 'psql'), [
      '-h',
      dir,
      '-p',
      String(port),
      '-U',
      'postgres',
      '-X',
      '-q',
      '-v',
      'ON_ERROR_STOP=1',
      '-c',
      sql,
    ]);
  await start();
  await psql(`CREATE ROLE ${ROLE} LOGIN PASSWORD 'chaos'`);
  await psql(`CREATE DATABASE ${DATABASE} OWNER ${ROLE}`);
  const databaseUrl = `postgres://${ROLE}:chaos@127.0.0.1:${port}/${DATABASE}`;
  return {
    databaseUrl,
    restart: async () => {
      await pgCtl('-m', 'immediate', 'stop');
      await waitFor('PostgreSQL to start again', async () => await start().then(() => true), 60_000);
    },
    stop: async () => {
      await pgCtl('-m', 'fast', 'stop').catch(() => undefined);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function uidOf(user: string): Promise<string> {
  return (await run('id', ['-u', user])).stdout.trim();
}

async function gidOf(user: string): Promise<string> {
  return (await run('id', ['-g', user])).stdout.trim();
}
