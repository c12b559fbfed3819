import {
  ApplicationFailure,
  WithStartWorkflowOperation,
  WorkflowNotFoundError,
  WorkflowExecutionAlreadyStartedError,
  WorkflowUpdateFailedError,
  type Client,
  type WorkflowStartOptions,
} from '@temporalio/client';
import { randomUUID } from 'node:crypto';
import { HttpError } from './errors.ts';
import { FeishuAppId, FeishuAuthStatus, FeishuOpenId } from '../lib/search-attributes.ts';
import { normalizeScopes } from '../lib/feishu/oauth.ts';
import { feishuCallbackWorkflow, type CallbackWorkflowInput } from '../workflows/callback.ts';
import { CARD_NOT_SENT, grantWorkflow } from '../workflows/grant.ts';
import {
  cancelAttempt,
  deliverRedirect,
  ensureFreshToken,
  grantState,
  requestAuthorization,
  revoke,
} from '../workflows/messages.ts';
import { callbackWorkflowId, grantWorkflowId } from '../workflows/task-queues.ts';
import type {
  AttemptOutcome,
  AuthFlow,
  AuthorizationRequest,
  AuthorizationResponse,
  GrantSettings,
  GrantState,
  GrantStatus,
  RevokeRequest,
  TokenMeta,
} from '../lib/grant-types.ts';

/** How long a revocation waits to be confirmed before answering 503 (repeating it is harmless). */
const REVOKE_WAIT_MS = 15_000;

/** How long a token request waits for a refresh before answering 503. */
const FRESH_TOKEN_WAIT_MS = 10_000;

/**
 * How a grant workflow starts: its id and queue, the Web UI's title, and the search attributes
 * operators filter on (the workflow keeps the status current afterwards). The benchmark seeds its
 * grants with these too, so they look like the ones the API starts.
 */
export function grantStartOptions(
  appId: string,
  openId: string,
  taskQueue: string,
  status: GrantStatus,
): Pick<WorkflowStartOptions, 'workflowId' | 'taskQueue' | 'staticSummary' | 'typedSearchAttributes'> {
  return {
    workflowId: grantWorkflowId(appId, openId),
    taskQueue,
    // The run's one-line title; its live state is the workflow's current details.
    staticSummary: `Feishu grant of ${openId} (app ${appId})`,
    typedSearchAttributes: [
      { key: FeishuOpenId, value: openId },
      { key: FeishuAppId, value: appId },
      { key: FeishuAuthStatus, value: status },
    ],
  };
}

/** The API's side of the grant workflows: every Temporal call the API makes goes through here. */
export class GrantService {
  constructor(
    private readonly client: Client,
    readonly appId: string,
    private readonly taskQueue: string,
    private readonly settings: Partial<GrantSettings>,
    /** FEISHU_AUTH_FLOW: the flow of a request that names none (bot DMs, Retry buttons). */
    private readonly defaultFlow: AuthFlow = 'code',
  ) {}

  workflowId(openId: string): string {
    return grantWorkflowId(this.appId, openId);
  }

  /**
   * Update-with-start: reuses the running grant workflow, or starts one. When Feishu refuses the
   * card, the answer says why instead of throwing.
   */
  async request(
    openId: string,
    req: AuthorizationRequest & { reuseMessageId?: string },
  ): Promise<AuthorizationResponse | { cardNotSent: string }> {
    const startWorkflowOperation = new WithStartWorkflowOperation(grantWorkflow, {
      ...grantStartOptions(this.appId, openId, this.taskQueue, 'pending'),
      workflowIdConflictPolicy: 'USE_EXISTING',
      args: [{ appId: this.appId, openId, settings: this.settings }],
    });
    try {
      return await this.client.workflow.executeUpdateWithStart(requestAuthorization, {
        args: [{ ...req, flow: req.flow ?? this.defaultFlow, scopes: normalizeScopes(req.scopes) }],
        startWorkflowOperation,
      });
    } catch (err) {
      const cause = err instanceof WorkflowUpdateFailedError ? err.cause : undefined;
      if (cause instanceof ApplicationFailure && cause.type === CARD_NOT_SENT)
        return { cardNotSent: cause.message };
      throw err;
    }
  }

  /**
   * Hands the redirect to the workflow. The update id is derived from the state, so a double
   * click or a replayed redirect is the same update, answered with the same outcome.
   * Returns undefined when the attempt is no longer waiting (settled, expired, or the run ended).
   */
  async deliverRedirect(
    workflowId: string,
    delivery: { attemptId: string; denied: boolean },
    updateId: string,
  ): Promise<AttemptOutcome | undefined> {
    try {
      return await this.client.workflow.getHandle(workflowId).executeUpdate(deliverRedirect, {
        args: [delivery],
        updateId,
      });
    } catch (err) {
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  /**
   * Hands a Feishu callback's work to Temporal before Feishu is answered: once the workflow is
   * started the work is durable, whatever happens to this process. The event id names the
   * workflow, so a re-delivered event (while Temporal keeps the first, the namespace's
   * retention) starts nothing new. Throws 503 when Temporal does not take it by `signal`: the
   * callback is then answered as failed, and Feishu re-delivers an event.
   */
  async handOff(
    eventId: string | undefined,
    input: CallbackWorkflowInput,
    signal: AbortSignal,
  ): Promise<void> {
    try {
      await this.client.withAbortSignal(signal, () =>
        this.client.workflow.start(feishuCallbackWorkflow, {
          workflowId: callbackWorkflowId(this.appId, eventId ?? randomUUID()),
          taskQueue: this.taskQueue,
          args: [input],
          workflowIdConflictPolicy: 'USE_EXISTING',
          workflowIdReusePolicy: 'REJECT_DUPLICATE',
        }),
      );
    } catch (err) {
      if (err instanceof WorkflowExecutionAlreadyStartedError) return;
      if (signal.aborted)
        throw new HttpError(
          503,
          'unavailable',
          'Temporal did not take the work in time; Feishu may send it again',
        );
      throw err;
    }
  }

  /** Cancel on a card whose grant's run has already ended (revoked, expired) has nothing left to cancel. */
  async cancel(openId: string, attemptId: string): Promise<void> {
    try {
      await this.client.workflow.getHandle(this.workflowId(openId)).signal(cancelAttempt, { attemptId });
    } catch (err) {
      if (!(err instanceof WorkflowNotFoundError)) throw err;
    }
  }

  /**
   * Revokes through the grant's workflow. Revocation never queues behind the grant's other work,
   * but its database write waits out a PostgreSQL outage: the caller hears so instead of hanging.
   */
  async revoke(openId: string, request: RevokeRequest): Promise<GrantState | undefined> {
    const signal = AbortSignal.timeout(REVOKE_WAIT_MS);
    try {
      return await this.client.withAbortSignal(signal, () =>
        this.client.workflow.getHandle(this.workflowId(openId)).executeUpdate(revoke, { args: [request] }),
      );
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      if (signal.aborted) {
        throw new HttpError(
          503,
          'revocation_pending',
          'the revocation could not be confirmed yet; repeat the request',
        );
      }
      throw err;
    }
  }

  /** Asks the grant's single writer for a token valid until validUntil; concurrent callers queue behind one refresh. */
  async ensureFresh(openId: string, validUntil: number): Promise<TokenMeta | undefined> {
    const signal = AbortSignal.timeout(FRESH_TOKEN_WAIT_MS);
    try {
      return await this.client.withAbortSignal(signal, () =>
        this.client.workflow
          .getHandle(this.workflowId(openId))
          .executeUpdate(ensureFreshToken, { args: [{ validUntil }] }),
      );
    } catch (err) {
      // Still refreshing (Feishu retrying): the caller gets a 503 now rather than a hung request.
      if (signal.aborted) return undefined;
      if (err instanceof WorkflowUpdateFailedError || err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }

  async state(openId: string): Promise<GrantState | undefined> {
    try {
      return await this.client.workflow.getHandle(this.workflowId(openId)).query(grantState);
    } catch (err) {
      if (err instanceof WorkflowNotFoundError) return undefined;
      throw err;
    }
  }
}
