import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { DataConverter } from '@temporalio/common';
import { historyFromJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker } from '@temporalio/worker';
import { loadTemporalConfig } from '../lib/config.ts';
import { failureConverterPath, grantDataConverter } from '../lib/data-converter.ts';
import { connectTemporal } from '../lib/temporal.ts';
import { workflowsPath } from '../workers/worker.ts';
import { loadLocalEnv } from './stack/local-env.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const USAGE = `usage: npm run replay -- --workflow-id <id> [--run-id <id>]
       npm run replay -- --file <history.json>

Replays a grant workflow's history against the current workflow code (workflows/index.ts) and
reports the first nondeterminism or workflow task error. --workflow-id fetches the history from
TEMPORAL_ADDRESS, decrypting it with PAYLOAD_CODEC_KEYS; --file reads one exported by
\`temporal workflow show --output json\`, historyToJSON or the Web UI (encrypted payloads need
PAYLOAD_CODEC_KEYS too).`;

interface Source {
  history: History;
  workflowId: string;
  dataConverter: DataConverter;
}

async function fetchHistory(workflowId: string, runId: string | undefined): Promise<Source> {
  const config = loadTemporalConfig();
  const client = await connectTemporal(config);
  try {
    const history = await client.workflow.getHandle(workflowId, runId).fetchHistory();
    return { history, workflowId, dataConverter: grantDataConverter(config.PAYLOAD_CODEC_KEYS) };
  } finally {
    await client.connection.close();
  }
}

function readHistory(file: string): Source {
  const history = historyFromJSON(JSON.parse(readFileSync(file, 'utf8')));
  // Decoded fixtures need no key; a file of encrypted payloads does.
  const dataConverter = process.env.PAYLOAD_CODEC_KEYS
    ? grantDataConverter(loadTemporalConfig().PAYLOAD_CODEC_KEYS)
    : { failureConverterPath };
  return { history, workflowId: path.basename(file, '.json'), dataConverter };
}

/** Core names the offending event in its message (`HistoryEvent(id: 5, …)`, `event 5`, …). */
function eventIdIn(message: string): string | undefined {
  return /(?:event[_ ]?id[:= ]+|HistoryEvent\(id: |event #?)(\d+)/i.exec(message)?.[1];
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      'workflow-id': { type: 'string' },
      'run-id': { type: 'string' },
      file: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
  if (values.help || !values['workflow-id'] === !values.file) {
    process.stderr.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  loadLocalEnv(root);
  // The workflow bundler logs every module at INFO.
  Runtime.install({ logger: new DefaultLogger('WARN') });
  const source = values.file
    ? readHistory(values.file)
    : await fetchHistory(values['workflow-id']!, values['run-id']);
  const events = source.history.events?.length ?? 0;
  process.stdout.write(`replaying ${source.workflowId} (${events} events) against ${workflowsPath}\n`);
  try {
    await Worker.runReplayHistory(
      { workflowsPath, dataConverter: source.dataConverter },
      source.history,
      source.workflowId,
    );
  } catch (err) {
    const error = err as Error;
    const eventId = eventIdIn(error.message);
    process.stdout.write(
      `FAILED: ${error.name}${eventId ? ` at event ${eventId}` : ''}\n${error.message}\n` +
        (error.cause instanceof Error ? `cause: ${error.cause.message}\n` : ''),
    );
    return 1;
  }
  process.stdout.write('OK: the current workflow code replays this history deterministically\n');
  return 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`npm run replay: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(1);
  },
);
