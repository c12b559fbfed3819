import { createHash } from 'node:crypto';
import { WorkflowExecutionAlreadyStartedError, type Client } from '@temporalio/client';
import type { Db } from '../lib/db.ts';
import { FeishuApiError } from '../lib/feishu/errors.ts';
import { normalizeScopes } from '../lib/feishu/oauth.ts';
import { FeishuAppId } from '../lib/search-attributes.ts';
import {
  getBatch,
  insertBatch,
  type BatchKind,
  type BatchOptions,
  type BatchRow,
} from '../lib/store/batches.ts';
import { authorizationBatchWorkflow } from '../workflows/batch.ts';
import { batchWorkflowId } from '../workflows/task-queues.ts';
import { HttpError } from './errors.ts';
import { openIdParam } from './routes/params.ts';

/** The most users one batch may hold, chat members included. */
export const MAX_BATCH_USERS = 1000;

/** Where a chat's members come from (the Feishu gateway). */
export interface ChatDirectory {
  chatMemberOpenIds(chatId: string): Promise<string[]>;
}

export interface BatchSubmission {
  kind: BatchKind;
  batchId: string;
  openIds: string[];
  options: BatchOptions;
  requestedBy: string | undefined;
}

/**
 * The API's side of batches: stores a batch and its users, then starts its workflow. The batch id
 * is the caller's: the same submission again finds the batch it made (and makes sure its workflow
 * runs), other content under the same id is a conflict.
 */
export class BatchService {
  constructor(
    private readonly client: Client,
    private readonly db: Db,
    private readonly chats: ChatDirectory,
    readonly appId: string,
    private readonly taskQueue: string,
    private readonly usersPerRun: number,
  ) {}

  async submit(submission: BatchSubmission): Promise<{ batch: BatchRow; created: boolean }> {
    const fingerprint = fingerprintOf(submission);
    const existing = await getBatch(this.db, this.appId, submission.batchId);
    const stored = existing
      ? { row: existing, created: false }
      : await insertBatch(this.db, {
          appId: this.appId,
          batchId: submission.batchId,
          kind: submission.kind,
          fingerprint,
          options: submission.options,
          requestedBy: submission.requestedBy,
          openIds: await this.users(submission),
        });
    if (stored.row.fingerprint !== fingerprint) {
      throw new HttpError(
        409,
        'batch_conflict',
        `batch ${submission.batchId} exists with other content; choose another batch_id`,
      );
    }
    if (!stored.row.finished_at) await this.start(stored.row);
    return { batch: stored.row, created: stored.created };
  }

  /** The listed users, then the chat's members, each once, in that order. */
  private async users({ openIds, options }: BatchSubmission): Promise<string[]> {
    const members = options.chat_id ? await this.chatMembers(options.chat_id) : [];
    const users = [...new Set([...openIds, ...members])];
    if (users.length === 0)
      throw new HttpError(422, 'no_users', 'the batch names no user: the chat has no members');
    if (users.length > MAX_BATCH_USERS) {
      throw new HttpError(
        422,
        'too_many_users',
        `the batch would hold ${users.length} users; at most ${MAX_BATCH_USERS} are allowed`,
      );
    }
    return users;
  }

  private async chatMembers(chatId: string): Promise<string[]> {
    try {
      const members = await this.chats.chatMemberOpenIds(chatId);
      return members.filter((openId) => openIdParam.safeParse(openId).success);
    } catch (err) {
      if (!(err instanceof FeishuApiError)) throw err;
      if (err.kind === 'transient' || err.kind === 'rate_limited')
        throw new HttpError(503, 'feishu_unavailable', 'Feishu did not list the chat members; retry shortly');
      throw new HttpError(
        422,
        'chat_members_unavailable',
        `Feishu would not list the members of ${chatId} (code ${err.code}): is the bot in the chat, and may the app read its members?`,
      );
    }
  }

  /** Starts the batch's workflow unless it runs or ran already. */
  private async start(batch: BatchRow): Promise<void> {
    try {
      await this.client.workflow.start(authorizationBatchWorkflow, {
        workflowId: batchWorkflowId(this.appId, batch.batch_id),
        taskQueue: this.taskQueue,
        args: [
          { appId: this.appId, batchId: batch.batch_id, total: batch.total, itemsPerRun: this.usersPerRun },
        ],
        workflowIdConflictPolicy: 'USE_EXISTING',
        workflowIdReusePolicy: 'REJECT_DUPLICATE',
        staticSummary: `Feishu ${batch.kind} batch ${batch.batch_id} (${batch.total} users, app ${this.appId})`,
        typedSearchAttributes: [{ key: FeishuAppId, value: this.appId }],
      });
    } catch (err) {
      if (!(err instanceof WorkflowExecutionAlreadyStartedError)) throw err;
    }
  }
}

/** What makes two submissions the same batch: kind, users as listed, chat, and the request's options. */
function fingerprintOf({ kind, openIds, options }: BatchSubmission): string {
  const canonical = {
    kind,
    openIds,
    chatId: options.chat_id ?? null,
    scopes: kind === 'request' ? normalizeScopes(options.scopes ?? []) : [],
    expiresInSeconds: options.expires_in_seconds ?? null,
    locale: options.locale ?? null,
  };
  return createHash('sha256').update(JSON.stringify(canonical)).digest('hex');
}
