import { log } from '../../../bench/stats.ts';
import type { Prng } from '../../sim/random/prng.ts';
import { waitFor } from '../../../scripts/stack/run.ts';
import type { ChaosStack, ProcessName } from './stack.ts';

export type KillTarget = ProcessName | 'temporal' | 'postgres';

export interface Kill {
  target: KillTarget;
  /** When the kill began (epoch ms). */
  at: number;
  /** When the killed part was serving again (restarted). */
  backAt?: number;
  error?: string;
}

export interface MonkeyPlan {
  start: number;
  end: number;
  workerEveryMs: number;
  apiEveryMs: number;
  temporalRestarts: number;
  postgresRestarts: number;
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Kills processes on a seeded schedule until `end`, each kind in a loop of its own so a slow
 * restart of one never holds back the others: a worker SIGKILLed about every workerEveryMs
 * (alternating, and only while the other one is up, so the two are never down together), the API
 * about every apiEveryMs after it is back, and the Temporal server and PostgreSQL restarted at
 * evenly spread moments (those always happen, even late).
 */
export async function runMonkey(stack: ChaosStack, rng: Prng, plan: MonkeyPlan): Promise<Kill[]> {
  const kills: Kill[] = [];
  const span = plan.end - plan.start;
  const upAgain = async (record: Kill, isUp: () => Promise<boolean>) => {
    try {
      await waitFor(`${record.target} to be back`, isUp, 180_000);
      record.backAt = Date.now();
      log(`chaos: ${record.target} killed, back in ${((record.backAt - record.at) / 1000).toFixed(1)} s`);
    } catch (err) {
      record.error = err instanceof Error ? err.message : String(err);
      log(`chaos: ${record.target} killed, not back: ${record.error}`);
    }
  };
  const kill = async (target: KillTarget, action: () => Promise<void>, isUp: () => Promise<boolean>) => {
    const record: Kill = { target, at: Date.now() };
    kills.push(record);
    await action().catch((err: unknown) => void (record.error = String(err)));
    return upAgain(record, isUp);
  };
  const workers = async () => {
    const pending: Promise<void>[] = [];
    for (let i = 0; ; i++) {
      await sleep(rng.between(0.7, 1.3) * plan.workerEveryMs);
      const target = i % 2 === 0 ? 'worker-1' : 'worker-2';
      const other = i % 2 === 0 ? 'worker-2' : 'worker-1';
      await waitFor(`${other} to be up`, () => stack.isUp(other), 180_000).catch(() => undefined);
      if (Date.now() >= plan.end) break;
      pending.push(
        kill(
          target,
          () => stack.crash(target),
          () => stack.isUp(target),
        ),
      );
    }
    await Promise.all(pending);
  };
  const api = async () => {
    for (;;) {
      await sleep(rng.between(0.7, 1.3) * plan.apiEveryMs);
      if (Date.now() >= plan.end) return;
      await kill(
        'api',
        () => stack.crash('api'),
        () => stack.isUp('api'),
      );
    }
  };
  const at = async (moments: number[], target: 'temporal' | 'postgres', action: () => Promise<void>) => {
    for (const moment of moments) {
      await sleep(moment - Date.now());
      await kill(target, action, () => stack.isReady());
    }
  };
  const spread = (count: number, shift: number) =>
    Array.from({ length: count }, (_, i) => plan.start + (span * (i + 1)) / (count + 1) + span * shift);
  await Promise.all([
    workers(),
    api(),
    at(spread(plan.temporalRestarts, -0.05), 'temporal', () => stack.restartTemporal()),
    at(spread(plan.postgresRestarts, 0.05), 'postgres', () => stack.postgres.restart()),
  ]);
  return kills;
}
