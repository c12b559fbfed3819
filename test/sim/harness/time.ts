import { setTimeout as delay } from 'node:timers/promises';
import type { TestWorkflowEnvironment } from '@temporalio/testing';

/**
 * While something is in flight or waits to be retried, the test server holds its clock for the
 * former and skips for the latter, so doubling steps cost nothing but find a retry in a few calls.
 * When nothing is, the awaited call is between client and server (or a cold worker is still
 * starting): small steps, so a slow machine does not become minutes of simulated time.
 */
const FIRST_BUSY_STEP_MS = 1_000;
const LONGEST_BUSY_STEP_MS = 2 * 60_000;
const IDLE_STEP_MS = 50;
/**
 * Real time a call gets to end before the first look: most calls are one round trip through the
 * worker, and a look (describe, history, a step of server time) costs more than that.
 */
const FIRST_LOOK_MS = 25;
/** Polls before work that never ends counts as stuck. */
const MAX_POLLS = 2_000;

/** Work that did not end within its budget. */
export class StuckError extends Error {
  override name = 'StuckError';
}

/** One look at what is awaited: whether it is over, and else what it waits for. */
export interface Poll {
  done: boolean;
  /** The server time of the next timer the work waits for. */
  nextAt?: number;
  /** A task is in flight or a retry is due at some server time the test server does not tell. */
  busy?: boolean;
  /**
   * The earliest timer of the workflow, waited for or not. Busy steps stop short of it: once a
   * slow task ends, the rest of a long step is skipped at once, and would fire (say) a card's
   * expiry that no user had the chance to beat.
   */
  timerAt?: number;
}

/**
 * The test server's clock. Outside env.sleep it runs at wall speed; anything that waits on
 * Temporal is awaited by moving server time only as far as the awaited work needs.
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

  /** Polls and moves server time until the poll says done; false when `limitMs` of it passed first. */
  async runUntil(poll: () => Promise<Poll>, limitMs: number): Promise<boolean> {
    const start = await this.now();
    let busyStep = FIRST_BUSY_STEP_MS;
    for (let polls = 0; polls < MAX_POLLS; polls++) {
      const { done, nextAt, busy, timerAt } = await poll();
      if (done) return true;
      const now = await this.now();
      if (now - start >= limitMs) return false;
      let step = IDLE_STEP_MS;
      if (busy) {
        step = timerAt === undefined ? busyStep : Math.max(step, Math.min(busyStep, timerAt - now - step));
        busyStep = Math.min(busyStep * 2, LONGEST_BUSY_STEP_MS);
      } else {
        busyStep = FIRST_BUSY_STEP_MS;
        if (nextAt !== undefined) step = Math.max(step, nextAt - now);
      }
      await this.env.sleep(step);
    }
    return false;
  }

  /** Awaits `work` while server time moves as `progress` says; a StuckError when it does not end. */
  async during<T>(
    work: Promise<T>,
    progress: () => Promise<Omit<Poll, 'done'>>,
    limitMs: number,
    what: string,
  ): Promise<T> {
    let ended = false;
    const watched = work.finally(() => (ended = true));
    // Handled here too, so a rejection while time still runs is not reported as unhandled.
    watched.catch(() => undefined);
    await Promise.race([watched.catch(() => undefined), delay(FIRST_LOOK_MS)]);
    const poll = async (): Promise<Poll> => (ended ? { done: true } : { done: false, ...(await progress()) });
    if (!(await this.runUntil(poll, limitMs))) {
      throw new StuckError(`${what} did not end (in ${limitMs / 60_000} minutes of server time, or at all)`);
    }
    return watched;
  }
}
