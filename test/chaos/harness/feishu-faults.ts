import type { Prng } from '../../sim/random/prng.ts';
import type { ChaosStack } from './stack.ts';

export interface FaultCounts {
  rateLimitBursts: number;
  latencySpikes: number;
  connectionDrops: number;
}

/** The steady misbehaviour: ~10 % of every Feishu API call fails, some refresh answers are lost. */
export const STEADY_FAULTS = {
  http5xxRate: 0.08,
  // On the token endpoints only (20050), so they see about 10 % too.
  serverErrorRate: 0.03,
  lostRefreshAnswerRate: 0.02,
};

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/**
 * Feishu misbehaving until `end`: the steady faults, and now and then a burst of 429s with
 * x-ogw-ratelimit-reset, a latency spike of a few seconds, or the long connection dropped.
 */
export async function runFeishuFaults(stack: ChaosStack, rng: Prng, end: number): Promise<FaultCounts> {
  const { sandbox, app } = stack;
  const counts: FaultCounts = { rateLimitBursts: 0, latencySpikes: 0, connectionDrops: 0 };
  sandbox.faults.set(STEADY_FAULTS);
  // Besides the rate, one for certain a third of the way in, so even a short run has one.
  const certainLoss = setTimeout(() => sandbox.faults.loseNextRefreshAnswers(1), (end - Date.now()) / 3);
  while (Date.now() < end) {
    await sleep(rng.between(5_000, 15_000));
    if (Date.now() >= end) break;
    const what = rng.weighted({ burst: 2, latency: 1, drop: 1 });
    if (what === 'burst') {
      // Most calls refused until the reset the 429s announce, as when the app's quota runs out.
      const seconds = rng.int(1, 3);
      sandbox.faults.set({ rateLimitRate: 0.9, rateLimitResetSeconds: seconds });
      counts.rateLimitBursts += 1;
      await sleep(seconds * 1_000);
      sandbox.faults.set({ rateLimitRate: 0 });
    } else if (what === 'latency') {
      sandbox.faults.set({ latencyMs: rng.int(1_000, 4_000) });
      counts.latencySpikes += 1;
      await sleep(rng.between(2_000, 6_000));
      sandbox.faults.set({ latencyMs: 0 });
    } else {
      sandbox.dropWsConnections(app.appId);
      counts.connectionDrops += 1;
    }
  }
  clearTimeout(certainLoss);
  sandbox.faults.reset();
  return counts;
}
