import { auditStream, failureOutcome } from '../api/audit.ts';
import type { GrantService } from '../api/grants.ts';
import { revokeGrant } from '../api/revoke.ts';
import type { Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
import { normalizeScopes } from '../lib/feishu/oauth.ts';
import { askedSince } from '../lib/store/queries.ts';
import { getSession } from '../lib/store/sessions.ts';
import type { CallbackWork } from '../workflows/callback.ts';
import { waitOnGrant } from './grant-wait.ts';

export interface CallbackDeps {
  db: Db;
  grants: GrantService;
  logger: Logger;
}

/** A card click's or a DM's work, done once the API has answered Feishu. Every step is safe to repeat. */
export function callbackActivities({ db, grants, logger }: CallbackDeps) {
  const audit = auditStream(logger);

  /**
   * Whether an attempt for at least these scopes opened after the DM or Retry arrived: its work done
   * again (the activity's first answer was lost to a killed worker), or a second ask overtaken by
   * the first. The user has had that card since and may have acted on it (cancelled it); asking
   * again would put a card in front of them that nobody asked for. Assumes the API's and
   * PostgreSQL's clocks agree within Feishu's 3 s answer window, which the work waits out first.
   */
  async function coveredSince(openId: string, receivedAt: number | undefined, scopes: string[]) {
    if (receivedAt === undefined) return false;
    const covered = await askedSince(db, grants.appId, openId, new Date(receivedAt), normalizeScopes(scopes));
    if (covered)
      logger.info({ openId }, 'a DM or Retry covered by an attempt opened since it arrived; nothing to do');
    return covered;
  }

  async function act(work: CallbackWork, receivedAt: number | undefined): Promise<void> {
    switch (work.action) {
      case 'cancel':
        return grants.cancel(work.openId, work.attemptId);
      case 'revoke': {
        const record = {
          action: 'authorization.revoke',
          by: { card_operator: work.openId },
          open_id: work.openId,
        } as const;
        try {
          await revokeGrant(db, grants, work.openId, {
            source: 'card',
            by: record.by,
            requestedAt: work.requestedAt,
          });
        } catch (err) {
          audit({ ...record, ...failureOutcome(err) });
          throw err;
        }
        audit({ ...record, outcome: 'ok', status: 200 });
        return;
      }
      case 'retry': {
        const previous = await getSession(db, work.attemptId);
        if (await coveredSince(work.openId, receivedAt, previous?.scopes ?? [])) return;
        await grants.request(work.openId, {
          scopes: previous?.scopes ?? [],
          locale: previous?.locale,
          source: 'card_retry',
          reuseMessageId: work.messageId,
        });
        return;
      }
      case 'request':
        if (await coveredSince(work.openId, receivedAt, work.scopes)) return;
        await grants.request(work.openId, {
          scopes: work.scopes,
          locale: work.locale,
          source: 'bot_message',
        });
        logger.info({ source: 'bot_message' }, 'authorization requested by DM');
        return;
    }
  }

  return {
    /** `receivedAt` is absent from callbacks handed over before it existed. */
    async actOnCallback(work: CallbackWork, receivedAt?: number): Promise<void> {
      await waitOnGrant(() => act(work, receivedAt));
    },
  };
}

export type CallbackActivities = ReturnType<typeof callbackActivities>;
