import type { TestWorkflowEnvironment } from '@temporalio/testing';

/** The first step lets a quick task finish; later ones double, so a long backoff costs a few calls. */
const FIRST_STEP_MS = 1_000;
const LONGEST_STEP_MS = 5 * 60_000;

/** Work that did not end within its budget of server time. */
export class StuckError extends Error {
  override name = 'StuckError';
}

/**
 * The test server's clock. Outside env.sleep it runs at wall speed, so anything that waits on
 * Temporal (an update behind activity retries, a backoff) is awaited while skipping time.
 */
export class SimTime {
  constructor(private readonly env: TestWorkflowEnvironment) {}

  now(): Promise<number> {
    return this.env.currentTimeMs();
  }

  async advanceTo(at: number): Promise<void> {
    const ms = at - (await this.now());
    if (ms > 0) await this.env.sleep(ms);
  }

  /** Lets server time run in growing steps until `done` holds; false when `limitMs` passed first. */
  async runUntil(done: () => boolean | Promise<boolean>, limitMs: number): Promise<boolean> {
    const start = await this.now();
    for (let step = FIRST_STEP_MS; ; step = Math.min(step * 2, LONGEST_STEP_MS)) {
      if (await done()) return true;
      if ((await this.now()) - start >= limitMs) return false;
      await this.env.sleep(step);
    }
  }

  /** Awaits `work` while server time runs; a StuckError when it has not ended within `limitMs`. */
  async during<T>(work: Promise<T>, limitMs: number, what: string): Promise<T> {
    let ended = false;
    const watched = work.finally(() => (ended = true));
    // Handled here too, so a rejection while time still runs is not reported as unhandled.
    watched.catch(() => undefined);
    if (!(await this.runUntil(() => ended, limitMs))) {
      throw new StuckError(`${what} did not end within ${limitMs / 60_000} minutes of server time`);
    }
    return watched;
  }
}
