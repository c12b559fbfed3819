import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadLocalEnv } from '../../scripts/stack/local-env.ts';
import { run, type RunResult } from '../../scripts/stack/run.ts';
import { authorizeUrlOf, cardOf, onlyCardFor } from '../helpers/cards.ts';
import { openRedirect } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { readText } from '../monitoring/shared.ts';

/** The README's "Try the management API" block, split where the reader authorizes in the browser. */
function readmeTryBlock(): { request: string; read: string } {
  const readme = readText('README.md');
  const block = /Try the management API with the generated key:\n\n```sh\n([\s\S]*?)```/.exec(readme)?.[1];
  if (!block) throw new Error('README.md has no "Try the management API" block');
  const [request, read] = block.split(/^# authorize in the chat view, then:\n/m);
  if (read === undefined) throw new Error('the block no longer says where to authorize');
  return { request: request!, read };
}

/**
 * The README's commands, run by bash as written, against a stack whose API key ring is what
 * `npm start` generates into .data/local.env; only the addresses `npm start` would listen on and
 * that file's folder are this test's own.
 */
describe('README: trying the management API', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'feishu-user-auth-readme-'));
  let stack: Stack;
  let bash: (commands: string) => Promise<RunResult>;

  beforeAll(async () => {
    const local = loadLocalEnv(root);
    stack = await startStack({ env: { API_KEYS: local.API_KEYS! } });
    const ours = (text: string) =>
      text
        .replaceAll('localhost:3000', new URL(stack.apiUrl).host)
        .replaceAll('localhost:3100', new URL(stack.sandbox.url).host);
    // Asynchronously: the API and the sandbox answer from this very process.
    bash = (commands) => run('bash', ['-euo', 'pipefail', '-c', ours(commands)], { cwd: root });
  });
  afterAll(async () => {
    await stack?.close();
    rmSync(root, { recursive: true, force: true });
  });

  it('requests authorization with the generated token key, then reads the token', async () => {
    const { request, read } = readmeTryBlock();
    const requested = await bash(`${request}\necho; echo "OPEN_ID=$OPEN_ID"`);
    expect(requested.code, requested.stderr).toBe(0);
    const openId = /^OPEN_ID=(\S+)$/m.exec(requested.stdout)?.[1];
    expect(openId).toBe(stack.sandbox.openIdOf(stack.appId, 0));
    expect(requested.stdout).toMatch(/"status":"pending"/);

    const messages = await onlyCardFor(stack.sandbox, openId!);
    const authorizeUrl = authorizeUrlOf(cardOf(stack.sandbox, messages.at(-1)!.messageId));
    expect((await openRedirect(stack.sandbox.approveAuthorization(authorizeUrl, openId!))).outcome).toBe(
      'authorized',
    );

    const token = await bash(`${request.split('\n').slice(0, 2).join('\n')}\n${read}`);
    expect(token.code, token.stderr).toBe(0);
    expect(JSON.parse(token.stdout)).toMatchObject({ access_token: expect.any(String) as string });
  });
});
