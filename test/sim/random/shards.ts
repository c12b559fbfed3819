import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runSimulation, type RunOptions, type RunReport } from './run.ts';

export interface ShardedRunOptions extends Omit<RunOptions, 'env' | 'onProgress'> {
  shards: number;
  /** A server of its own for each shard: a shard's clock must move only for its own grants. */
  startEnv: () => Promise<TestWorkflowEnvironment>;
  onProgress?: (shard: number, day: number) => void;
  /** Ends the run early: the servers are torn down at once, so no JVM outlives the caller. */
  signal?: AbortSignal;
}

/**
 * Shard `i` of a run: its share of the grants, and the seed `seed + i`, so that a failing shard is
 * the run `--grants <its grants> --seed <its seed> --shards 1` on its own.
 */
export function shardPlan(seed: number, grants: number, shards: number): { seed: number; grants: number }[] {
  const count = Math.max(1, Math.min(shards, grants));
  return Array.from({ length: count }, (_, i) => ({
    seed: seed + i,
    grants: Math.floor(grants / count) + (i < grants % count ? 1 : 0),
  }));
}

/**
 * Splits the grants over independent simulations run side by side. A simulation spends most of
 * its time waiting for round trips to its server and worker, one step after another; several
 * servers keep the machine busy. Each shard has its own Feishu, outages and deploys.
 */
export async function runShards(options: ShardedRunOptions): Promise<RunReport[]> {
  const { shards, startEnv, onProgress, signal, ...run } = options;
  const envs: TestWorkflowEnvironment[] = [];
  // Each server once, also one that finished starting after the abort; every call awaits them all.
  const stopping: Promise<unknown>[] = [];
  const tearDown = () => {
    stopping.push(Promise.allSettled(envs.splice(0).map((env) => env.teardown())));
    return Promise.all(stopping);
  };
  const aborted = new Promise<never>((_, reject) =>
    signal?.addEventListener(
      'abort',
      () =>
        void tearDown().then(() => reject(new Error('the simulation was stopped', { cause: signal.reason }))),
      {
        once: true,
      },
    ),
  );
  aborted.catch(() => undefined);
  try {
    // One at a time: JVMs starting together on a small machine miss the SDK's start deadline.
    for (const _ of shardPlan(run.seed, run.grants, shards)) {
      signal?.throwIfAborted();
      envs.push(await startEnv());
    }
    signal?.throwIfAborted();
    const runs = Promise.all(
      shardPlan(run.seed, run.grants, shards).map((shard, i) =>
        runSimulation({ ...run, ...shard, env: envs[i]!, onProgress: (day) => onProgress?.(i, day) }),
      ),
    );
    // Once aborted, the runs fail against servers that are gone: that is not news.
    runs.catch(() => undefined);
    return await Promise.race([runs, aborted]);
  } finally {
    await tearDown();
  }
}
