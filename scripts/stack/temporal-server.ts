import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { SEARCH_ATTRIBUTES } from '../../lib/search-attributes.ts';
import { startServerProcess } from './processes.ts';
import { elapsed, step } from './progress.ts';

export interface DevServerOptions {
  cli: string;
  port: number;
  uiPort?: number;
  /** SQLite file; in memory when omitted (tests). */
  dbFile?: string;
  logFile: string;
  namespace: string;
  codecEndpoint?: string;
}

export interface RunningServer {
  address: string;
  /** Set when this process started the server and so must stop it. */
  child?: ChildProcess;
  stop(): Promise<void>;
}

// A CommonJS module whose exports Node's ESM loader cannot name: destructure the default export.
const { grpc, temporal } = proto;

const INDEXED_VALUE_TYPES = {
  KEYWORD: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD,
  DATETIME: temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_DATETIME,
} as const;

/** Whether a Temporal frontend answers its health check as serving. */
export async function isHealthy(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    const { status } = await connection.healthService.check({});
    return status === grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING;
  } finally {
    await connection.close();
  }
}

/** The CLI environment (`--env`) in which uiCodecFlags sets the UI's codec endpoint. */
const UI_CODEC_ENV = 'feishu-user-auth-ui';

/**
 * The codec endpoint carries an API key, and a command line is readable by every user of the
 * machine (`ps`): the CLI takes it from an environment file (its `--env-file`, whose entries
 * default any flag), written beside the server's log for its owner alone.
 */
function uiCodecFlags(endpoint: string, logFile: string): string[] {
  const file = path.join(path.dirname(logFile), 'ui-codec-env.yaml');
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, `env:\n  ${UI_CODEC_ENV}:\n    ui-codec-endpoint: ${JSON.stringify(endpoint)}\n`, {
    mode: 0o600,
  });
  chmodSync(file, 0o600);
  return ['--env-file', file, '--env', UI_CODEC_ENV];
}

/** Starts `temporal server start-dev`, or reuses one already answering on the port. */
export async function ensureDevServer(options: DevServerOptions): Promise<RunningServer> {
  const address = `127.0.0.1:${options.port}`;
  if (await isHealthy(address).catch(() => false)) {
    step(`reusing the Temporal server already running at ${address}`);
    await ensureNamespaceAndSearchAttributes(address, options.namespace);
    return { address, stop: () => Promise.resolve() };
  }
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(options.port),
    '--log-level',
    'warn',
  ];
  args.push('--namespace', options.namespace);
  if (options.dbFile) {
    mkdirSync(path.dirname(options.dbFile), { recursive: true });
    args.push('--db-filename', options.dbFile);
  }
  if (options.uiPort) args.push('--ui-port', String(options.uiPort));
  else args.push('--headless');
  if (options.codecEndpoint) args.push(...uiCodecFlags(options.codecEndpoint, options.logFile));
  // Lets tests see continue-as-new suggested after a few dozen events instead of thousands.
  args.push('--dynamic-config-value', 'limit.historyCount.suggestContinueAsNew=400');
  // Server 1.29 dispatches by priority key only with the new matcher, which it leaves off by
  // default: without it a refresh a token read waits on queues behind the scheduled backlog.
  args.push('--dynamic-config-value', 'matching.useNewMatcher=true');

  const started = Date.now();
  step(`starting the Temporal dev server on ${address} (log: ${options.logFile})`);
  const { child, stop } = await startServerProcess(
    `the Temporal server at ${address}`,
    options.cli,
    args,
    options.logFile,
    () => isHealthy(address),
  );
  await ensureNamespaceAndSearchAttributes(address, options.namespace);
  step(`Temporal server ready in ${elapsed(started)}`);
  return { address, child, stop };
}

/** Registers the custom search attributes; registering one that exists is not an error. */
export async function ensureNamespaceAndSearchAttributes(address: string, namespace: string): Promise<void> {
  const connection = await Connection.connect({ address });
  try {
    const existing = await connection.operatorService.listSearchAttributes({ namespace });
    const missing = Object.fromEntries(
      Object.entries(SEARCH_ATTRIBUTES)
        .filter(([name]) => !(name in existing.customAttributes))
        .map(([name, kind]) => [name, INDEXED_VALUE_TYPES[kind]] as const),
    );
    if (Object.keys(missing).length > 0) {
      await connection.operatorService.addSearchAttributes({ namespace, searchAttributes: missing });
    }
  } finally {
    await connection.close();
  }
}
