import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import { msToTs } from '@temporalio/common/lib/time.js';
import YAML from 'yaml';
import { dropDatabase, listDatabases } from './postgres.ts';
import { startServerProcess, type ServerProcess } from './processes.ts';
import { elapsed, step } from './progress.ts';
import { run, waitFor } from './run.ts';
import { cacheDir, goInstall } from './temporal-cli.ts';
import { ensureNamespaceAndSearchAttributes, isHealthy, type RunningServer } from './temporal-server.ts';

/** The server and its SQL schema tool come from one module, so one version names both. */
const SERVER_MODULE = 'go.temporal.io/server';
/** The Web UI server the CLI embeds in `start-dev`, as a program of its own. */
const UI_MODULE = 'github.com/temporalio/ui-server/v2';
/** Both servers read `<root>/config/<env>.yaml`; we write that file under this env name. */
const CONFIG_ENV = 'cluster';
const SQL_PLUGIN = 'postgres12';

export const SERVICES = ['frontend', 'history', 'matching', 'worker'] as const;
type Service = (typeof SERVICES)[number];

/** The server records membership ports in a PostgreSQL smallint column. */
export const MAX_MEMBERSHIP_PORT = 32_767;

export interface TemporalPorts {
  /** Each service's gRPC port and its membership (ringpop) port. */
  services: Record<Service, { grpc: number; membership: number }>;
  frontendHttp: number;
  /** The server's Prometheus endpoint. */
  metrics: number;
}

/**
 * `npm run cluster`'s ports: the server template's own ten thousand up, clear of a dev server on
 * 7233 and of anything else that took the template's defaults.
 */
export const CLUSTER_TEMPORAL_PORTS: TemporalPorts = {
  services: {
    frontend: { grpc: 17233, membership: 16933 },
    history: { grpc: 17234, membership: 16934 },
    matching: { grpc: 17235, membership: 16935 },
    worker: { grpc: 17239, membership: 16939 },
  },
  frontendHttp: 17243,
  metrics: 18000,
};

export interface TemporalDatabases {
  host: string;
  port: number;
  user: string;
  password: string;
  main: string;
  visibility: string;
}

export interface TemporalClusterOptions {
  version: string;
  /** Generated configuration and the log live here. */
  dir: string;
  databases: TemporalDatabases;
  /** Drops both databases first. */
  fresh: boolean;
  ports: TemporalPorts;
  namespace: string;
  retentionSeconds: number;
  /** The dynamic configuration the compose deployment mounts into its server. */
  dynamicConfigFile: string;
}

async function versionOf(executable: string): Promise<string | undefined> {
  const { code, stdout } = await run(executable, ['--version']);
  return code === 0 ? /version v?(\S+)/.exec(stdout)?.[1] : undefined;
}

/**
 * Our cached builds of a module's commands (name → package path within the module) at `version`,
 * built with `go install` when one is missing or another version.
 */
async function findOrBuild(
  what: string,
  module: string,
  version: string,
  binDir: string,
  commands: Record<string, string>,
): Promise<string[]> {
  const executables = Object.keys(commands).map((name) => path.join(binDir, name));
  const stale = await Promise.all(
    executables.map(async (e) => !existsSync(e) || (await versionOf(e)) !== version),
  );
  if (stale.some(Boolean)) {
    await goInstall(
      what,
      Object.values(commands).map((pkg) => `${module}${pkg}@v${version}`),
      binDir,
    );
  }
  return executables;
}

/** Where Go keeps a module's source: the server's config templates and schema files come from it. */
async function moduleDir(module: string, version: string): Promise<string> {
  const { code, stdout, stderr } = await run('go', ['mod', 'download', '-json', `${module}@v${version}`]);
  const dir = code === 0 ? (JSON.parse(stdout) as { Dir?: string }).Dir : undefined;
  if (!dir)
    throw new Error(`go mod download ${module}@v${version} failed: ${stderr.trim() || stdout.trim()}`);
  return dir;
}

/**
 * What the compose deployment's schema job does: create the database and its version table when
 * missing, then apply every schema version not yet applied.
 */
async function setupSchema(
  sqlTool: string,
  db: TemporalDatabases,
  database: string,
  versionsDir: string,
): Promise<void> {
  const sql = async (...args: string[]) => {
    const connection = ['--plugin', SQL_PLUGIN, '--ep', db.host, '-p', String(db.port), '-u', db.user];
    // The password goes by environment, never on a command line others can read.
    const result = await run(sqlTool, [...connection, '--db', database, ...args], {
      env: { ...process.env, SQL_PASSWORD: db.password },
    });
    if (result.code !== 0) {
      throw new Error(
        `temporal sql tool ${args[0]} on ${database} failed:\n${result.stderr || result.stdout}`,
      );
    }
  };
  if (!(await listDatabases(database)).includes(database)) {
    await sql('create');
    await sql('setup-schema', '-v', '0.0');
  }
  await sql('update-schema', '-d', versionsDir);
}

interface ServerConfig {
  log: { level: string };
  persistence: {
    defaultStore: string;
    visibilityStore: string;
    datastores: Record<
      string,
      {
        sql: {
          databaseName: string;
          connectAddr: string;
          user: string;
          password: string;
          maxConns: number;
          maxIdleConns: number;
        };
      }
    >;
  };
  global: { pprof: { port: number }; metrics: { prometheus: { listenAddress: string } } };
  services: Record<Service, { rpc: { grpcPort: number; membershipPort: number; httpPort?: number } }>;
  clusterMetadata: { currentClusterName: string; clusterInformation: Record<string, { rpcAddress: string }> };
  dynamicConfigClient: { filepath: string };
}

/** The module's development-postgres12 configuration with our databases, ports and dynamic config. */
function writeServerConfig(serverModule: string, options: TemporalClusterOptions): void {
  const template = path.join(serverModule, 'config', `development-${SQL_PLUGIN}.yaml`);
  const config = YAML.parse(readFileSync(template, 'utf8')) as ServerConfig;
  const { databases: db, ports } = options;
  config.log.level = 'warn';
  const stores = config.persistence.datastores;
  // Pool sizes are the server image's defaults under compose (the template gives visibility 2).
  for (const [store, database, connections] of [
    [config.persistence.defaultStore, db.main, 20],
    [config.persistence.visibilityStore, db.visibility, 10],
  ] as const) {
    const sql = stores[store]?.sql;
    if (!sql) throw new Error(`${template}: no SQL datastore "${store}"`);
    Object.assign(sql, {
      databaseName: database,
      connectAddr: `${db.host}:${db.port}`,
      user: db.user,
      password: db.password,
      maxConns: connections,
      maxIdleConns: connections,
    });
  }
  // Port 0 turns the profiler off; the template's fixed port would clash between two clusters.
  config.global.pprof.port = 0;
  config.global.metrics.prometheus.listenAddress = `127.0.0.1:${ports.metrics}`;
  for (const service of SERVICES) {
    config.services[service].rpc.grpcPort = ports.services[service].grpc;
    config.services[service].rpc.membershipPort = ports.services[service].membership;
  }
  config.services.frontend.rpc.httpPort = ports.frontendHttp;
  const current = config.clusterMetadata.clusterInformation[config.clusterMetadata.currentClusterName];
  if (!current) throw new Error(`${template}: no clusterInformation for the current cluster`);
  current.rpcAddress = `127.0.0.1:${ports.services.frontend.grpc}`;
  config.dynamicConfigClient.filepath = options.dynamicConfigFile;
  writeConfig(options.dir, config);
}

function writeConfig(root: string, config: object): void {
  mkdirSync(path.join(root, 'config'), { recursive: true });
  // It holds the database password.
  writeFileSync(path.join(root, 'config', `${CONFIG_ENV}.yaml`), YAML.stringify(config), { mode: 0o600 });
}

/**
 * What the compose deployment's setup job does with the CLI: the namespace with its retention and
 * our search attributes. A namespace just registered reaches every service's cache only after a
 * few seconds, so this waits until a visibility query in it succeeds.
 */
async function ensureNamespace(address: string, namespace: string, retentionSeconds: number): Promise<void> {
  const connection = await Connection.connect({ address });
  let lastError: unknown;
  try {
    await waitFor(
      `namespace ${namespace} on ${address}`,
      async () => {
        try {
          const exists = await connection.workflowService.describeNamespace({ namespace }).then(
            () => true,
            () => false,
          );
          if (!exists) {
            await connection.workflowService.registerNamespace({
              namespace,
              workflowExecutionRetentionPeriod: msToTs(retentionSeconds * 1000),
            });
          }
          await ensureNamespaceAndSearchAttributes(address, namespace);
          await connection.workflowService.countWorkflowExecutions({ namespace });
          return true;
        } catch (err) {
          lastError = err;
          return false;
        }
      },
      60_000,
    );
  } catch (err) {
    throw new Error(`${(err as Error).message}: ${(lastError as Error | undefined)?.message}`);
  } finally {
    await connection.close();
  }
}

/**
 * The Temporal server as production runs it, one process on PostgreSQL for persistence and
 * visibility, built from source at the deployment's version. Its schema is created and migrated
 * by the server's own SQL tool, as the compose deployment does.
 */
export async function startTemporalCluster(options: TemporalClusterOptions): Promise<RunningServer> {
  const [server, sqlTool] = await findOrBuild(
    `Temporal server ${options.version}`,
    SERVER_MODULE,
    options.version,
    path.join(cacheDir(), 'bin'),
    { server: '/cmd/server', sql: '/cmd/tools/sql' },
  );
  const serverModule = await moduleDir(SERVER_MODULE, options.version);
  const { databases: db } = options;
  if (options.fresh) {
    await dropDatabase(db.main);
    await dropDatabase(db.visibility);
  }
  let started = Date.now();
  step(`Temporal schema in ${db.main} and ${db.visibility}`);
  const schemas = path.join(serverModule, 'schema', 'postgresql', 'v12');
  await setupSchema(sqlTool!, db, db.main, path.join(schemas, 'temporal', 'versioned'));
  await setupSchema(sqlTool!, db, db.visibility, path.join(schemas, 'visibility', 'versioned'));
  step(`Temporal schema ready in ${elapsed(started)}`);

  writeServerConfig(serverModule, options);
  const address = `127.0.0.1:${options.ports.services.frontend.grpc}`;
  const logFile = path.join(options.dir, 'server.log');
  started = Date.now();
  step(`starting Temporal server ${options.version} on ${address} (log: ${logFile})`);
  const { child, stop } = await startServerProcess(
    `the Temporal server at ${address}`,
    server!,
    ['--root', options.dir, '--config', 'config', '--env', CONFIG_ENV, '--allow-no-auth', 'start'],
    logFile,
    () => isHealthy(address),
  );
  try {
    await ensureNamespace(address, options.namespace, options.retentionSeconds);
  } catch (err) {
    await stop();
    throw err;
  }
  step(`Temporal server ready in ${elapsed(started)}`);
  return { address, child, stop };
}

export interface TemporalUiOptions {
  version: string;
  dir: string;
  port: number;
  temporalAddress: string;
  namespace: string;
  codecEndpoint: string;
}

/** The Web UI server at the deployment's version, configured as the CLI configures its embedded one. */
export async function startTemporalUi(options: TemporalUiOptions): Promise<ServerProcess> {
  // Its command is called `server` too, so it gets a directory of its own.
  const [ui] = await findOrBuild(
    `Temporal UI server ${options.version}`,
    UI_MODULE,
    options.version,
    path.join(cacheDir(), 'bin', 'ui'),
    { server: '/cmd/server' },
  );
  writeConfig(options.dir, {
    host: '127.0.0.1',
    port: options.port,
    temporalGrpcAddress: options.temporalAddress,
    enableUi: true,
    defaultNamespace: options.namespace,
    codec: { endpoint: options.codecEndpoint },
    // Plain HTTP on loopback: a Secure cookie would never come back.
    cors: { cookieInsecure: true },
    hideLogs: true,
  });
  const url = `http://127.0.0.1:${options.port}`;
  return startServerProcess(
    `the Temporal Web UI at ${url}`,
    ui!,
    ['--root', options.dir, '--config', 'config', '--env', CONFIG_ENV, 'start'],
    path.join(options.dir, 'ui.log'),
    async () => (await fetch(url)).ok,
  );
}
