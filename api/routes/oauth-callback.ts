import Router from '@koa/router';
import { z } from 'zod';
import type { Db } from '../../lib/db.ts';
import { hashState, isWellFormedState } from '../../lib/feishu/oauth.ts';
import { localeFromAcceptLanguage } from '../../lib/i18n.ts';
import {
  findSessionByStateHash,
  getSession,
  storeCodeOnce,
  type SessionRow,
} from '../../lib/store/sessions.ts';
import type { TokenCipher } from '../../lib/token-crypto.ts';
import type { AttemptOutcome, FailureReason } from '../../lib/grant-types.ts';
import type { GrantService } from '../grants.ts';
import type { Operation } from '../openapi.ts';
import { renderOutcomePage, type PageOutcome } from '../pages.ts';

const MAX_CODE_LENGTH = 4096;

function fromAttempt(outcome: AttemptOutcome): PageOutcome {
  switch (outcome.kind) {
    case 'authorized':
      return { kind: 'authorized', userName: outcome.userName };
    case 'failed':
      return { kind: 'failed', reason: outcome.reason };
    case 'superseded':
      return { kind: 'already_completed' };
    default:
      return { kind: outcome.kind };
  }
}

/** What a redirect for an attempt that already ended should say. */
function fromSettledRow(row: SessionRow): PageOutcome {
  switch (row.status) {
    case 'authorized':
    case 'superseded':
    case 'pending':
      return { kind: row.status === 'pending' ? 'busy' : 'already_completed' };
    case 'failed':
      return { kind: 'failed', reason: (row.reason as FailureReason | null) ?? 'internal' };
    case 'denied':
    case 'expired':
    case 'cancelled':
    case 'identity_mismatch':
      return { kind: row.status };
    default:
      return { kind: 'already_completed' };
  }
}

export const oauthCallbackOperations: Operation[] = [
  {
    method: 'get',
    path: '/oauth/callback',
    summary: "Feishu's OAuth redirect: hands the code to the user's workflow and shows the outcome",
    // Feishu adds the parameters; the page checks each itself and answers a bad link with a page.
    query: z.object({
      state: z.string().optional(),
      code: z.string().optional(),
      error: z.string().optional(),
    }),
    answers: {
      200: { description: 'the outcome page', html: true },
      400: { description: 'the link is not valid (unknown or malformed state, no code)', html: true },
      503: { description: 'Temporal is unreachable or the attempt is busy; reload later', html: true },
    },
  },
];

/**
 * GET /oauth/callback: finds the attempt by its state's hash, keeps the code sealed in
 * PostgreSQL, and hands the workflow an update whose id is derived from the state. The page
 * shows the outcome the workflow reached, not a guess.
 */
export function oauthCallbackRoutes(db: Db, cipher: TokenCipher, grants: GrantService): Router {
  const router = new Router();

  router.get('/oauth/callback', async (ctx) => {
    const render = (outcome: PageOutcome, status = 200) => {
      ctx.status = status;
      ctx.type = 'html';
      ctx.set('cache-control', 'no-store');
      ctx.set('referrer-policy', 'no-referrer');
      ctx.body = renderOutcomePage(outcome, localeFromAcceptLanguage(ctx.get('accept-language')));
    };
    const { state, code, error } = ctx.query;
    if (!isWellFormedState(state)) return render({ kind: 'invalid_link' }, 400);
    const stateHash = hashState(state);
    const row = await findSessionByStateHash(db, stateHash);
    if (!row || row.app_id !== grants.appId) return render({ kind: 'invalid_link' }, 400);
    if (row.status !== 'pending') return render(fromSettledRow(row));

    const denied = error !== undefined;
    if (!denied) {
      if (typeof code !== 'string' || code.length === 0 || code.length > MAX_CODE_LENGTH) {
        return render({ kind: 'invalid_link' }, 400);
      }
      await storeCodeOnce(
        db,
        row.id,
        cipher.seal(code, { appId: row.app_id, openId: row.open_id, kind: 'oauth_code' }),
      );
    }
    let outcome;
    try {
      outcome = await grants.deliverRedirect(
        row.workflow_id,
        { attemptId: row.id, denied },
        `redirect-${stateHash.toString('hex')}`,
      );
    } catch {
      // Temporal unreachable: the code is kept, and reloading this page delivers it once it is back.
      return render({ kind: 'busy' }, 503);
    }
    if (outcome) return render(fromAttempt(outcome));
    // The workflow would not take it: the attempt settled meanwhile; say how.
    const settled = await getSession(db, row.id);
    const page = settled ? fromSettledRow(settled) : ({ kind: 'invalid_link' } as const);
    render(page, page.kind === 'busy' ? 503 : 200);
  });

  return router;
}
