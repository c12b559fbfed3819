import { asyncLocalStorage, type Context } from '@temporalio/activity';

/**
 * How often a waiting Feishu call heartbeats. The SDK throttles what reaches the server (to 80 %
 * of the heartbeat timeout), so this only bounds how late a cancellation is noticed.
 */
const HEARTBEAT_EVERY_MS = 1_000;

/** The running activity attempt; none when an activity function is called directly (tests, tools). */
const current = (): Context | undefined => asyncLocalStorage.getStore();

/** Milliseconds before the attempt's start-to-close timeout; unbounded outside an activity. */
export function attemptTimeLeftMs(): number {
  const info = current()?.info;
  if (!info) return Infinity;
  return info.currentAttemptScheduledTimestampMs + info.startToCloseTimeoutMs - Date.now();
}

/**
 * Runs one Feishu call for the current attempt. Its requests abort when the attempt is cancelled
 * (by the workflow, by a local timeout, or by a worker shutting down), and the attempt heartbeats
 * while it waits, which is how a cancellation from the workflow reaches it. A call cut short that
 * way throws the cancellation rather than a network error, so Temporal records what happened.
 * The first heartbeat goes out after a second of waiting, not at once: the SDK sends a first
 * heartbeat straight to the server, and most calls are over sooner, so an immediate one would
 * cost the server a write per call and tell the activity nothing.
 */
export async function feishuCall<T>(call: (signal: AbortSignal | undefined) => Promise<T>): Promise<T> {
  const context = current();
  if (!context) return call(undefined);
  context.cancellationSignal.throwIfAborted();
  const beat = setInterval(() => context.heartbeat(), HEARTBEAT_EVERY_MS);
  try {
    return await call(context.cancellationSignal);
  } catch (err) {
    context.cancellationSignal.throwIfAborted();
    throw err;
  } finally {
    clearInterval(beat);
  }
}

/** Waits, unless the attempt is cancelled meanwhile (then throws the cancellation). */
export function pause(ms: number): Promise<void> {
  const context = current();
  return context ? context.sleep(ms) : new Promise((resolve) => setTimeout(resolve, ms));
}
