import { assertDatabaseReachable, createDb } from '../../lib/db.ts';
import { step } from './progress.ts';
import { run, waitFor } from './run.ts';

export interface LocalPostgres {
  /** URL of the service's own database (created if missing). */
  databaseUrl: string;
  /** The cluster's major version, e.g. "15". */
  version: string;
  /** Set when this process started the cluster and so must stop it. */
  stop(): Promise<void>;
}

const ROLE = 'feishu_user_auth';
// A loopback-only development password; real deployments pass DATABASE_URL.
const PASSWORD = 'feishu_user_auth_dev';

interface Cluster {
  version: string;
  name: string;
  port: number;
  online: boolean;
}

async function findCluster(): Promise<Cluster> {
  const { code, stdout, stderr } = await run('pg_lsclusters', ['--no-header']);
  if (code !== 0) throw new Error(`pg_lsclusters failed: ${stderr.trim() || 'is PostgreSQL installed?'}`);
  const clusters = stdout
    .trim()
    .split('\n')
    .filter(Boolean)
    .map((line) => line.trim().split(/\s+/))
    .map(([version = '', name = '', port = '', status = '']) => ({
      version,
      name,
      port: Number(port),
      online: status.startsWith('online'),
    }));
  const cluster = clusters.find((c) => c.online) ?? clusters[0];
  if (!cluster) throw new Error('no PostgreSQL cluster found (pg_lsclusters lists none)');
  return cluster;
}

/** Runs SQL as the cluster's superuser (roles, databases, grants), through psql. */
export async function asPostgres(sql: string, database = 'postgres'): Promise<string> {
  const asRoot = process.getuid?.() === 0;
  const [cmd, args] = asRoot
    ? ['runuser', ['-u', 'postgres', '--', 'psql']]
    : ['sudo', ['-n', '-u', 'postgres', 'psql']];
  const result = await run(cmd, [
    ...args,
    '-X',
    '-q',
    '-t',
    '-A',
    '-v',
    'ON_ERROR_STOP=1',
    '-d',
    database,
    '-c',
    sql,
  ]);
  if (result.code !== 0) throw new Error(`psql as postgres failed: ${result.stderr.trim()}`);
  return result.stdout.trim();
}

/**
 * Starts the machine's PostgreSQL cluster when it is down and creates the service's role and
 * database idempotently. `fresh` drops and recreates the database (the test suite's own).
 */
export async function ensureLocalPostgres(database: string, { fresh = false } = {}): Promise<LocalPostgres> {
  const cluster = await findCluster();
  let startedHere = false;
  if (!cluster.online) {
    step(`starting PostgreSQL cluster ${cluster.version}/${cluster.name}`);
    const started = await run('pg_ctlcluster', [cluster.version, cluster.name, 'start']);
    if (started.code !== 0) throw new Error(`pg_ctlcluster start failed: ${started.stderr.trim()}`);
    startedHere = true;
  }
  const databaseUrl = `postgres://${ROLE}:${PASSWORD}@127.0.0.1:${cluster.port}/${database}`;
  await waitFor('PostgreSQL', async () => (await asPostgres('SELECT 1')) === '1', 30_000);

  await ensureLoginRole(ROLE, PASSWORD);
  if (fresh) await asPostgres(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
  const exists = await asPostgres(`SELECT 1 FROM pg_database WHERE datname = '${database}'`);
  if (exists !== '1') await asPostgres(`CREATE DATABASE ${database} OWNER ${ROLE}`);
  const db = createDb(databaseUrl, 1);
  try {
    await assertDatabaseReachable(db, databaseUrl);
  } finally {
    await db.end();
  }
  return {
    databaseUrl,
    version: cluster.version,
    stop: async () => {
      if (!startedHere) return;
      step(`stopping PostgreSQL cluster ${cluster.version}/${cluster.name}`);
      await run('pg_ctlcluster', [cluster.version, cluster.name, 'stop']);
    },
  };
}

/**
 * A role that logs in with a loopback development password, created if missing (an existing one
 * keeps its password); `createDb` lets a tool that makes its own databases, Temporal's schema
 * tool, do so.
 */
export async function ensureLoginRole(
  role: string,
  password: string,
  { createDb = false } = {},
): Promise<void> {
  await asPostgres(
    `DO $$ BEGIN
       IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '${role}') THEN
         CREATE ROLE ${role} LOGIN ${createDb ? 'CREATEDB' : ''} PASSWORD '${password}';
       ELSIF ${createDb} AND NOT (SELECT rolcreatedb FROM pg_roles WHERE rolname = '${role}') THEN
         ALTER ROLE ${role} CREATEDB;
       END IF;
     END $$;`,
  );
}

export async function listDatabases(prefix: string): Promise<string[]> {
  const out = await asPostgres(
    `SELECT datname FROM pg_database WHERE datname LIKE '${prefix.replace(/_/g, '\\_')}%'`,
  );
  return out.split('\n').filter(Boolean);
}

export async function dropDatabase(name: string): Promise<void> {
  await asPostgres(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
