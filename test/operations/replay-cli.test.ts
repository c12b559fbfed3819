import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { grantWorkflowId } from '../../workflows/task-queues.ts';
import { authorize } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

function replay(args: string[], env: Record<string, string>) {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/replay.ts', ...args], {
    cwd: root,
    env: { ...process.env, ...env },
    encoding: 'utf8',
    timeout: 60_000,
  });
  return { status: run.status, output: `${run.stdout}${run.stderr}` };
}

describe('npm run replay', () => {
  let stack: Stack;
  let workflowId: string;
  let env: Record<string, string>;
  beforeAll(async () => {
    stack = await startStack();
    const openId = stack.sandbox.openIdOf(stack.appId, 0);
    await authorize(stack, openId);
    workflowId = grantWorkflowId(stack.appId, openId);
    env = {
      TEMPORAL_ADDRESS: stack.config.TEMPORAL_ADDRESS,
      TEMPORAL_NAMESPACE: stack.config.TEMPORAL_NAMESPACE,
      PAYLOAD_CODEC_KEYS: stack.config.PAYLOAD_CODEC_KEYS.map(
        (k) => `${k.id}:${Buffer.from(k.key).toString('base64')}`,
      ).join(','),
    };
  });
  afterAll(() => stack?.close());

  it('fetches a live history through the codec and replays it', () => {
    const { status, output } = replay(['--workflow-id', workflowId], env);
    expect(output).toContain('OK: the current workflow code replays this history');
    expect(status).toBe(0);
  });

  it('fails, and says why, when the codec key is not the one the history was written with', () => {
    const wrongKey = `${stack.config.PAYLOAD_CODEC_KEYS[0]!.id}:${randomBytes(32).toString('base64')}`;
    const { status, output } = replay(['--workflow-id', workflowId], {
      ...env,
      PAYLOAD_CODEC_KEYS: wrongKey,
    });
    expect(status).toBe(1);
    expect(output).toContain('does not open');
  });

  it('replays a saved fixture and rejects bad usage', () => {
    expect(replay(['--file', 'test/histories/denied.json'], env).status).toBe(0);
    expect(replay([], env).status).toBe(2);
  });
});
