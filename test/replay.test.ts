import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { historyFromJSON } from '@temporalio/common/lib/proto-utils.js';
import { DefaultLogger, Runtime, Worker, bundleWorkflowCode } from '@temporalio/worker';
import { DeterminismViolationError } from '@temporalio/workflow';
import { beforeAll, describe, expect, it } from 'vitest';
import { failureConverterPath, grantDataConverter } from '../lib/data-converter.ts';
import { bundleGrantWorkflows } from '../workers/worker.ts';
import { fixturePaths, historiesDir, readManifest } from './helpers/history-fixtures.ts';

const here = path.dirname(fileURLToPath(import.meta.url));
/** Recorded at 0f8d4b2, the version live before grant-v2: the runs open at that deploy look like these. */
const V1_PATHS = ['authorized', 'denied', 'expired', 'refreshed', 'revoked'];

/** Fixtures are saved decoded (scripts/record-histories.ts); the production converter passes them through. */
const dataConverter = grantDataConverter([{ id: 'replay', key: new Uint8Array(randomBytes(32)) }]);

// Every fixture of every workflow version, subfolders included: a run of any of them may still be
// open. Retired ones describe runs a deprecated patch made impossible.
const { fixtures: listed } = readManifest();
const fixtures = fixturePaths()
  .filter((f) => !listed[f]?.retiredBy)
  .map((f) => ({
    workflowId: f.replace(/\.json$/, ''),
    history: historyFromJSON(JSON.parse(readFileSync(path.join(historiesDir, f), 'utf8'))),
  }));

describe('saved histories replay against the current workflow code', () => {
  beforeAll(() => {
    // Replay workers and the bundler log every step at INFO; the expected nondeterminism at WARN.
    Runtime.install({
      logger: new DefaultLogger('ERROR'),
      telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } },
    });
  });

  it('has the histories of the version live before grant-v2', () => {
    expect(fixtures.map((f) => f.workflowId)).toEqual(expect.arrayContaining(V1_PATHS));
  });

  it('replays every fixture deterministically', async () => {
    const failures: { workflowId: string; error: string }[] = [];
    const replays = Worker.runReplayHistories(
      { workflowBundle: await bundleGrantWorkflows(), dataConverter },
      fixtures,
    );
    for await (const result of replays) {
      if (result.error) failures.push({ workflowId: result.workflowId, error: result.error.message });
    }
    expect(failures).toEqual([]);
  });

  it('reports a changed workflow as nondeterministic', async () => {
    const changed = await bundleWorkflowCode({
      workflowsPath: path.join(here, 'fixtures', 'changed-grant-workflow.ts'),
      failureConverterPath,
      logger: undefined,
    });
    const authorized = fixtures.find((f) => f.workflowId === 'authorized')!;
    const replay = Worker.runReplayHistory({ workflowBundle: changed, dataConverter }, authorized.history);
    await expect(replay).rejects.toThrow(DeterminismViolationError);
    // npm run replay reports the event from this part of core's message.
    await expect(replay).rejects.toThrow(/HistoryEvent\(id: \d+/);
  });
});
