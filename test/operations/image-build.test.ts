import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { KeyRingEntry } from '../../lib/config.ts';
import { WORKFLOW_BUNDLE_FILE } from '../../workers/worker.ts';
import { elapsed } from '../../scripts/stack/progress.ts';
import { run, type RunResult } from '../../scripts/stack/run.ts';
import { authorize } from '../helpers/flows.ts';
import { startStack, type Stack } from '../helpers/stack.ts';
import { getToken } from '../helpers/tokens.ts';
import { readText, repoPath, ROOT } from '../monitoring/shared.ts';

/** What only building, testing or the sandbox needs; none of it may reach the image. */
const BUILD_AND_TEST_TOOLS = ['typescript', 'tsx', 'vitest', 'eslint', 'prettier', 'playwright-core'];

function succeeded(what: string, result: RunResult): void {
  if (result.code !== 0)
    throw new Error(`${what} failed (${result.code}):\n${result.stdout}${result.stderr}`);
}

const keyRing = (ring: KeyRingEntry[]) =>
  ring.map((k) => `${k.id}:${Buffer.from(k.key).toString('base64')}`).join(',');

/**
 * The Dockerfile's two stages without a Docker engine: the build stage's `npm run build` (tsc to
 * dist/, the prebuilt workflow bundle), then the runtime stage's `npm ci --omit=dev` in a clean
 * folder holding only what the Dockerfile copies into it; the service then runs from there with
 * plain node, through the image's entrypoint.
 */
describe('the image, built from the Dockerfile steps', () => {
  const app = mkdtempSync(path.join(os.tmpdir(), 'feishu-user-auth-image-'));
  const timings: Record<string, string> = {};

  beforeAll(async () => {
    for (const file of ['package.json', 'package-lock.json']) cpSync(repoPath(file), path.join(app, file));
    mkdirSync(path.join(app, 'deploy'));
    cpSync(repoPath('deploy', 'docker-entrypoint.sh'), path.join(app, 'deploy', 'docker-entrypoint.sh'));
    const build = async () => {
      const started = Date.now();
      const result = await run(
        process.execPath,
        ['--import', 'tsx', 'scripts/build.ts', '--out-dir', path.join(app, 'dist')],
        { cwd: ROOT },
      );
      succeeded('npm run build', result);
      timings.build = elapsed(started);
    };
    const install = async () => {
      const started = Date.now();
      const result = await run('npm', ['ci', '--omit=dev', '--no-audit', '--no-fund', '--prefer-offline'], {
        cwd: app,
        env: { ...process.env, NODE_ENV: 'production' },
      });
      succeeded('npm ci --omit=dev', result);
      timings.install = elapsed(started);
    };
    await Promise.all([build(), install()]);
  }, 600_000);

  afterAll(() => {
    process.stderr.write(
      `image build: npm run build ${timings.build}, npm ci --omit=dev ${timings.install}\n`,
    );
    rmSync(app, { recursive: true, force: true });
  });

  it('is built the way the test builds it', () => {
    const dockerfile = readText('Dockerfile');
    expect(dockerfile).toMatch(/^FROM node:22-slim AS build$/m);
    expect(dockerfile).toMatch(/^RUN npm run build$/m);
    expect(dockerfile).toMatch(/^RUN .*npm ci --omit=dev\b/m);
    expect(dockerfile).toMatch(/^COPY --from=build \/app\/dist \.\/dist$/m);
    expect(dockerfile).toContain('CMD ["node", "dist/api/main.js"]');
  });

  it('holds compiled JavaScript and the prebuilt workflow bundle, and no build or test tool', () => {
    const files = readdirSync(path.join(app, 'dist'), { recursive: true, encoding: 'utf8' });
    expect(files.filter((f) => f.endsWith('.ts'))).toEqual([]);
    expect(files).toEqual(expect.arrayContaining([WORKFLOW_BUNDLE_FILE, 'api/main.js', 'workers/main.js']));
    const installed = BUILD_AND_TEST_TOOLS.filter((p) => existsSync(path.join(app, 'node_modules', p)));
    expect(installed).toEqual([]);
    expect(existsSync(path.join(app, 'node_modules', '@temporalio', 'worker'))).toBe(true);
  });

  describe('running from dist/ with plain node', () => {
    let stack: Stack;
    beforeAll(async () => {
      stack = await startStack({ processes: { image: app } });
    }, 300_000);
    afterAll(() => stack?.close());

    it('migrates with secrets handed over as files, as the compose file does', async () => {
      const secrets = mkdtempSync(path.join(os.tmpdir(), 'feishu-user-auth-secrets-'));
      const secret = (name: string, value: string) => {
        writeFileSync(path.join(secrets, name), `${value}\n`, { mode: 0o600 });
        return path.join(secrets, name);
      };
      try {
        const result = await run(
          '/bin/sh',
          ['deploy/docker-entrypoint.sh', process.execPath, 'dist/db/cli.js'],
          {
            cwd: app,
            env: {
              PATH: process.env.PATH,
              DATABASE_URL_FILE: secret('database_url', inject('databaseUrl')),
              TOKEN_ENCRYPTION_KEYS_FILE: secret('token_keys', keyRing(stack.config.TOKEN_ENCRYPTION_KEYS)),
              PAYLOAD_CODEC_KEYS_FILE: secret('codec_keys', keyRing(stack.config.PAYLOAD_CODEC_KEYS)),
            },
          },
        );
        succeeded('node dist/db/cli.js', result);
        expect(result.stdout).toContain('the database is up to date');
      } finally {
        rmSync(secrets, { recursive: true, force: true });
      }
    });

    it('serves an authorization end to end: the worker runs the prebuilt bundle, the API answers', async () => {
      const openId = stack.sandbox.openIdOf(stack.appId, 0);
      await authorize(stack, openId);
      expect((await getToken(stack, openId)).status).toBe(200);
      const health = await fetch(`${stack.apiUrl}/readyz`);
      expect(health.status).toBe(200);
    });
  });
});
