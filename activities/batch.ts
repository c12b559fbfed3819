import { HttpError } from '../api/errors.ts';
import type { GrantService } from '../api/grants.ts';
import { revokeIfGranted } from '../api/revoke.ts';
import { assertWithinScopeCap } from '../api/scope-cap.ts';
import type { Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
import { waitOnGrant } from './grant-wait.ts';
import {
  finishBatch,
  getBatchWork,
  settleBatchItem,
  type BatchItemOutcome,
  type BatchWork,
} from '../lib/store/batches.ts';

/** What batch activities need: the store, and the same grant service the API asks grants through. */
export interface BatchDeps {
  db: Db;
  grants: GrantService;
  logger: Logger;
}

export interface BatchItemRef {
  appId: string;
  batchId: string;
  position: number;
}

/** Asks the user's grant exactly as POST /v1/authorizations does, and says what came of it. */
async function request(deps: BatchDeps, work: BatchWork): Promise<BatchItemOutcome> {
  const scopes = work.options.scopes ?? [];
  try {
    await assertWithinScopeCap(deps.db, deps.grants.appId, work.openId, scopes);
  } catch (err) {
    if (err instanceof HttpError) return { result: 'card_refused', reason: `${err.code}: ${err.message}` };
    throw err;
  }
  const response = await deps.grants.request(work.openId, {
    scopes,
    expiresInSeconds: work.options.expires_in_seconds,
    locale: work.options.locale,
    source: 'api',
  });
  if ('cardNotSent' in response) return { result: 'card_refused', reason: response.cardNotSent };
  if (response.status === 'pending') return { result: 'card_sent', authorizationId: response.attemptId };
  if (response.status === 'authorized') return { result: 'already_authorized' };
  return { result: 'card_refused', reason: response.status };
}

/** Revokes the user's grant exactly as DELETE /v1/users/:openId/authorization does. */
async function revoke(deps: BatchDeps, work: BatchWork): Promise<BatchItemOutcome> {
  const by = work.requestedBy ? { api_key: work.requestedBy } : undefined;
  const revoked = await revokeIfGranted(deps.db, deps.grants, work.openId, { source: 'api', by });
  return { result: revoked ? 'revoked' : 'no_grant' };
}

export function batchActivities(deps: BatchDeps) {
  return {
    /**
     * One user of a batch: a request or a revocation, its result written to PostgreSQL. A user
     * already handled (a retried activity, a repeated run) is left as it is. Anything thrown is
     * retried; the workflow records the user as failed once the retries run out.
     */
    async processBatchItem(ref: BatchItemRef): Promise<void> {
      const work = await getBatchWork(deps.db, ref.appId, ref.batchId, ref.position);
      if (!work || work.result !== 'queued') return;
      const outcome = await waitOnGrant(() =>
        work.kind === 'request' ? request(deps, work) : revoke(deps, work),
      );
      await settleBatchItem(deps.db, ref.appId, ref.batchId, ref.position, outcome);
    },

    async failBatchItem(ref: BatchItemRef): Promise<void> {
      deps.logger.warn(
        { batchId: ref.batchId, position: ref.position },
        'batch user failed after every retry',
      );
      await settleBatchItem(deps.db, ref.appId, ref.batchId, ref.position, {
        result: 'failed',
        reason: 'internal: the request failed after every retry',
      });
    },

    async finishBatch(ref: Omit<BatchItemRef, 'position'>): Promise<void> {
      await finishBatch(deps.db, ref.appId, ref.batchId);
    },
  };
}

export type BatchActivities = ReturnType<typeof batchActivities>;
