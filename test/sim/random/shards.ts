import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { runSimulation, type RunOptions, type RunReport } from './run.ts';

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

export interface OwnServerRunOptions extends Omit<RunOptions, 'env'> {
  /** A server of its own: a simulation's clock must move only for its own grants. */
  startEnv: () => Promise<TestWorkflowEnvironment>;
  /** Ends the run early: the server is torn down at once, so no JVM outlives the caller. */
  signal?: AbortSignal;
  /** The server is up (others may start theirs: JVMs starting together miss their deadline). */
  onServerUp?: () => void;
}

/** One simulation on a test server started for it and torn down after it, also when aborted. */
export async function runOnOwnServer(options: OwnServerRunOptions): Promise<RunReport> {
  const { startEnv, signal, onServerUp, ...run } = options;
  signal?.throwIfAborted();
  const env = await startEnv();
  onServerUp?.();
  let tornDown: Promise<void> | undefined;
  const tearDown = () => (tornDown ??= env.teardown());
  const aborted = new Promise<never>((_, reject) =>
    signal?.addEventListener(
      'abort',
      () =>
        void tearDown().then(() => reject(new Error('the simulation was stopped', { cause: signal.reason }))),
      { once: true },
    ),
  );
  aborted.catch(() => undefined);
  try {
    signal?.throwIfAborted();
    const simulation = runSimulation({ ...run, env });
    // Once aborted, the run fails against a server that is gone: that is not news.
    simulation.catch(() => undefined);
    return await Promise.race([simulation, aborted]);
  } finally {
    await tearDown();
  }
}
