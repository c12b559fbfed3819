import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import { tsToMs } from '@temporalio/common/lib/time.js';
import type { temporal } from '@temporalio/proto';

/** What a grant's workflow is doing now, as far as server time is concerned. */
export interface Progress {
  description?: WorkflowExecutionDescription;
  /** A workflow task or an activity attempt is in flight: it takes real time, not server time. */
  working: boolean;
  /** An activity waits to be retried (the test server does not say until when). */
  backingOff: boolean;
  /** When the earliest timer of the run fires (a `condition` with a timeout, a sleep). */
  timerAt?: number;
  /** The running run's history, read for the above. */
  events?: temporal.api.history.v1.IHistoryEvent[];
}

/**
 * Reads the run's state from describe and history: the test server's describe shows pending
 * activities (though not when their next attempt is due) but never a pending workflow task, and
 * no timers.
 */
export async function progressOf(client: Client, workflowId: string): Promise<Progress> {
  let description: WorkflowExecutionDescription;
  try {
    description = await client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (err instanceof WorkflowNotFoundError) return { working: false, backingOff: false };
    throw err;
  }
  if (description.status.name !== 'RUNNING') return { description, working: false, backingOff: false };
  // An attempt that completed (failed) no earlier than it started is over: the next is not yet due.
  const waitingToRetry = (description.raw.pendingActivities ?? []).map(
    (a) => !!a.lastAttemptCompleteTime && tsToMs(a.lastAttemptCompleteTime) >= tsToMs(a.lastStartedTime),
  );
  const events = (await client.workflow.getHandle(workflowId, description.runId).fetchHistory()).events ?? [];
  const firing = new Map<string, number>();
  let taskInFlight = false;
  for (const event of events) {
    const started = event.timerStartedEventAttributes;
    if (started?.timerId && event.eventTime) {
      firing.set(started.timerId, tsToMs(event.eventTime) + tsToMs(started.startToFireTimeout));
    }
    const ended = event.timerFiredEventAttributes ?? event.timerCanceledEventAttributes;
    if (ended?.timerId) firing.delete(ended.timerId);
    if (event.workflowTaskScheduledEventAttributes) taskInFlight = true;
    if (
      event.workflowTaskCompletedEventAttributes ||
      event.workflowTaskFailedEventAttributes ||
      event.workflowTaskTimedOutEventAttributes
    ) {
      taskInFlight = false;
    }
  }
  return {
    description,
    working: taskInFlight || waitingToRetry.includes(false),
    backingOff: waitingToRetry.includes(true),
    timerAt: firing.size > 0 ? Math.min(...firing.values()) : undefined,
    events,
  };
}
