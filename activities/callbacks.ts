import { auditStream, failureOutcome } from '../api/audit.ts';
import type { GrantService } from '../api/grants.ts';
import { revokeGrant } from '../api/revoke.ts';
import type { Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
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

  async function act(work: CallbackWork): Promise<void> {
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
        await grants.request(work.openId, {
          scopes: previous?.scopes ?? [],
          locale: previous?.locale,
          source: 'card_retry',
          reuseMessageId: work.messageId,
        });
        return;
      }
      case 'request':
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
    async actOnCallback(work: CallbackWork): Promise<void> {
      await waitOnGrant(() => act(work));
    },
  };
}

export type CallbackActivities = ReturnType<typeof callbackActivities>;
