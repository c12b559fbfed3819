import { RateLimiterPostgres, RateLimiterRes } from 'rate-limiter-flexible';
import type { Db } from '../../lib/db.ts';

/** How a user's own ask for a card went against their limit. */
export type UserAsk =
  | { allowed: true }
  | {
      allowed: false;
      retryAfterSeconds: number;
      /** The window's first refusal: the one that may tell the user, so the telling is not spam. */
      firstRefusal: boolean;
    };

export interface UserCardLimit {
  /** `eventId`: a Feishu event delivered again is not counted again. */
  take(openId: string, eventId?: string): Promise<UserAsk>;
}

const WINDOW_SECONDS = 60;
/** Feishu re-delivers an event it got no answer for within a day (docs/operations.md). */
const REDELIVERY_SECONDS = 24 * 3600;

/**
 * The cards a user may ask for themselves (a DM command, the card's Retry) per minute, whatever
 * they send. Counted in PostgreSQL, so every API replica draws on one count per user: a fixed
 * window from their first ask, then a fresh one.
 */
export function userCardLimit(db: Db, perMinute: number): UserCardLimit {
  // A migration made the table: the runtime database role may not create tables.
  const table = { storeClient: db, storeType: 'pool', tableName: 'user_rate_limits', tableCreated: true };
  const limiter = new RateLimiterPostgres({
    ...table,
    keyPrefix: 'user_cards',
    points: perMinute,
    duration: WINDOW_SECONDS,
  });
  // One point per event id: consuming it fails for a delivery of an event already counted.
  const countedEvents = new RateLimiterPostgres({
    ...table,
    keyPrefix: 'user_card_events',
    points: 1,
    duration: REDELIVERY_SECONDS,
  });
  const countedBefore = async (eventId: string) => {
    try {
      await countedEvents.consume(eventId);
      return false;
    } catch (err) {
      if (!(err instanceof RateLimiterRes)) throw err;
      return true;
    }
  };
  return {
    async take(openId, eventId) {
      // The first delivery was let through (a refused one is answered and not re-delivered).
      if (eventId && (await countedBefore(eventId))) return { allowed: true };
      try {
        await limiter.consume(openId);
        return { allowed: true };
      } catch (err) {
        if (!(err instanceof RateLimiterRes)) throw err;
        return {
          allowed: false,
          retryAfterSeconds: Math.max(1, Math.ceil(err.msBeforeNext / 1000)),
          firstRefusal: err.consumedPoints === perMinute + 1,
        };
      }
    },
  };
}
