import { randomBytes } from 'node:crypto';
import { expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { readText, readYaml } from './shared.ts';

/** A compose duration ("60s", "1m30s") in seconds. */
function composeSeconds(duration: string): number {
  const units: Record<string, number> = { h: 3600, m: 60, s: 1, ms: 0.001 };
  let seconds = 0;
  for (const [, amount, unit] of duration.matchAll(/(\d+(?:\.\d+)?)(ms|h|m|s)/g)) {
    seconds += Number(amount) * units[unit!]!;
  }
  return seconds;
}

/** What the worker takes from deploy/env/feishu-user-auth.env.example, or the default. */
function workerGraceSeconds(): number {
  const line = readText('deploy', 'env', 'feishu-user-auth.env.example')
    .split('\n')
    .find((l) => l.startsWith('WORKER_SHUTDOWN_GRACE_SECONDS='));
  const env = {
    DATABASE_URL: 'postgres://u:p@localhost/db',
    TOKEN_ENCRYPTION_KEYS: `k1:${randomBytes(32).toString('base64')}`,
    PAYLOAD_CODEC_KEYS: `c1:${randomBytes(32).toString('base64')}`,
    ...(line ? { WORKER_SHUTDOWN_GRACE_SECONDS: line.split('=')[1]! } : {}),
  };
  return loadConfig(env).WORKER_SHUTDOWN_GRACE_SECONDS;
}

/**
 * After the grace the worker cancels what is still running and then has to leave its pollers and
 * connection: the orchestrator's SIGKILL must come later than that, or activities in flight are cut
 * without their cancellation (the defect of a grace of 0 is the other side: cut at once).
 */
it("the worker's shutdown grace is above zero and ends well before compose's stop timeout", () => {
  const compose = readYaml('docker-compose.yml') as { services: { worker: { stop_grace_period?: string } } };
  const stopTimeout = composeSeconds(compose.services.worker.stop_grace_period ?? '10s');
  const grace = workerGraceSeconds();
  expect(grace).toBeGreaterThan(0);
  expect(stopTimeout - grace).toBeGreaterThanOrEqual(10);
});
