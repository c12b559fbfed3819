import { WorkflowNotFoundError, type Client, type WorkflowExecutionDescription } from '@temporalio/client';
import proto from '@temporalio/proto';
import type { SimLog } from '../model/log.ts';

// A CommonJS module whose exports Node's ESM loader cannot name: destructure the default export.
const { temporal } = proto;
const { WorkflowTaskFailedCause } = temporal.api.enums.v1;
type HistoryEvent = proto.temporal.api.history.v1.IHistoryEvent;

/** The bounds each run must stay under (Temporal's own limits are 51,200 events and 2,000 updates). */
export const MAX_EVENTS_PER_RUN = 2_000;
export const MAX_UPDATES_PER_RUN = 500;

const FAILED = new Set(['FAILED', 'TERMINATED', 'TIMED_OUT', 'CANCELED']);

/** The server rejected a completion because news arrived meanwhile; the task is retried: no defect. */
const BENIGN_TASK_FAILURES = new Set([
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_COMMAND,
  WorkflowTaskFailedCause.WORKFLOW_TASK_FAILED_CAUSE_UNHANDLED_UPDATE,
]);

/** The first workflow task failure of a run that is a defect (nondeterminism, a plain Error, …). */
export function failedTask(events: HistoryEvent[]) {
  return events
    .map((e) => e.workflowTaskFailedEventAttributes)
    .find((f) => f && !BENIGN_TASK_FAILURES.has(f.cause ?? 0));
}

export type WorkflowHealth = 'running' | 'closed' | 'absent' | 'broken';

/**
 * Watches each grant's workflow across its runs: never Failed, no workflow task failing
 * (nondeterminism, a plain Error), each run under the event and update bounds (so continue-as-new
 * happens in time: the test server never suggests it). Reads histories, because the test server's
 * describe never reports a pending workflow task.
 */
export class WorkflowWatch {
  private readonly lastRun = new Map<string, string>();
  private readonly runCounts = new Map<string, number>();

  constructor(
    private readonly client: Client,
    private readonly log: SimLog,
  ) {}

  async describe(workflowId: string, runId?: string): Promise<WorkflowExecutionDescription | undefined> {
    try {
      return await this.client.workflow.getHandle(workflowId, runId).describe();
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /** How many runs of the workflow the watch has seen. */
  runsOf(workflowId: string): number {
    return this.runCounts.get(workflowId) ?? 0;
  }

  /**
   * Checks the current run, as `current` describes it (with its history when already read), and
   * the run before when it changed.
   */
  async check(
    now: number,
    openId: string,
    current: WorkflowExecutionDescription | undefined,
    events?: HistoryEvent[],
  ): Promise<WorkflowHealth> {
    if (!current) return 'absent';
    const { workflowId, runId } = current;
    const previous = this.lastRun.get(workflowId);
    if (previous !== runId) {
      this.lastRun.set(workflowId, runId);
      this.runCounts.set(workflowId, this.runsOf(workflowId) + 1);
      const ended = previous ? await this.describe(workflowId, previous) : undefined;
      if (ended) await this.checkRun(now, openId, ended);
    }
    return this.checkRun(now, openId, current, events);
  }

  /** The chain of causes a failed run ended with, decoded as the API would see it. */
  private async whyFailed(run: WorkflowExecutionDescription): Promise<string> {
    if (run.status.name !== 'FAILED') return '';
    const causes: string[] = [];
    try {
      await this.client.workflow.getHandle(run.workflowId, run.runId).result();
    } catch (err) {
      for (let cause: unknown = err; cause instanceof Error; cause = cause.cause) causes.push(cause.message);
    }
    return causes.length > 0 ? ` (${causes.join(' ← ')})` : '';
  }

  private async checkRun(
    now: number,
    openId: string,
    run: WorkflowExecutionDescription,
    read?: HistoryEvent[],
  ): Promise<WorkflowHealth> {
    const report = (invariant: string, detail: string) =>
      this.log.violation(now, openId, invariant, `run ${run.runId}: ${detail}`, `${invariant} ${run.runId}`);
    if (FAILED.has(run.status.name)) {
      report('workflow failed', `it is ${run.status.name}${await this.whyFailed(run)}`);
      return 'broken';
    }
    const events =
      read ?? (await this.client.workflow.getHandle(run.workflowId, run.runId).fetchHistory()).events ?? [];
    if (events.length >= MAX_EVENTS_PER_RUN) report('history too long', `${events.length} events`);
    const updates = events.filter((e) => e.workflowExecutionUpdateAcceptedEventAttributes).length;
    if (updates >= MAX_UPDATES_PER_RUN) report('too many updates', `${updates} accepted`);
    const failed = failedTask(events);
    if (failed) {
      const cause = WorkflowTaskFailedCause[failed.cause ?? 0];
      report(
        'workflow task failed',
        `${cause}${failed.failure?.message ? `: ${failed.failure.message}` : ''}`,
      );
      return 'broken';
    }
    return run.status.name === 'RUNNING' ? 'running' : 'closed';
  }
}
