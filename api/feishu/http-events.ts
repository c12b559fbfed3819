import { createHash, timingSafeEqual } from 'node:crypto';
import Router from '@koa/router';
import * as lark from '@larksuiteoapi/node-sdk';
import type { Context } from 'koa';
import type { Db } from '../../lib/db.ts';
import type { Logger } from '../../lib/logger.ts';
import { feishuCallbackDuration } from '../../lib/metrics.ts';
import { firstSighting } from '../../lib/store/replay-guard.ts';
import { z } from 'zod';
import { HttpError } from '../errors.ts';
import type { Operation } from '../openapi.ts';
import type { CallbackHandlers } from './handlers.ts';

export interface HttpEventsOptions {
  db: Db;
  handlers: CallbackHandlers;
  logger: Logger;
  encryptKey?: string;
  verificationToken?: string;
  /** Requests signed longer ago than this (either way) are refused as stale. */
  maxSkewSeconds?: number;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * Feishu does not sign the url_verification it sends when the request URL is saved, so that one
 * body is decrypted unsigned. It is small: a larger unsigned body is refused unread, which leaves
 * a prober only tiny bodies, each answered like every other refusal.
 */
const MAX_UNSIGNED_BYTES = 1024;

export const httpEventOperations: Operation[] = [
  {
    method: 'post',
    path: '/feishu/events',
    summary: "Feishu's event and card callbacks (FEISHU_CALLBACK_MODE=http), signed and optionally encrypted",
    body: z.looseObject({}),
    answers: {
      200: { description: 'the challenge, the card answer, or an acknowledgement', json: z.looseObject({}) },
    },
    errors: { 401: ['rejected'], 413: ['payload_too_large'], 503: ['unavailable'] },
  },
];

async function readRawBody(ctx: Context): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const piece of ctx.req) {
    const chunk = piece as Buffer;
    size += chunk.length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, 'payload_too_large', 'the body exceeds 1 MB');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function sameHex(a: string, b: string): boolean {
  const x = Buffer.from(a, 'utf8');
  const y = Buffer.from(b, 'utf8');
  return x.length === y.length && timingSafeEqual(x, y);
}

interface Envelope {
  type?: string;
  challenge?: string;
  token?: string;
  encrypt?: string;
  schema?: string;
  header?: { event_id?: string; event_type?: string; token?: string };
  event?: unknown;
}

/**
 * Every refused callback gets this one answer, whatever the reason: a caller who can tell a
 * padding error from a JSON error (or an unsigned body from a bad token) has an oracle on the
 * encrypted body. The reason is logged for operators instead.
 */
class Rejected extends HttpError {
  constructor(readonly reason: string) {
    super(401, 'rejected', 'the callback could not be verified');
  }
}

function parseJson(raw: string, what: string): Envelope {
  try {
    const value: unknown = JSON.parse(raw);
    if (value && typeof value === 'object') return value;
  } catch {
    // answered below
  }
  throw new Rejected(`${what} is not a JSON object`);
}

/**
 * POST /feishu/events for HTTP callback mode. Checks what the SDK does not: the signature over
 * the raw bytes (before anything is decrypted, so the body's bytes cannot be probed; Feishu's
 * unsigned url_verification aside), a timestamp window, single-use nonces, and the verification
 * token.
 */
export function httpEventRoutes(options: HttpEventsOptions): Router {
  const { db, handlers, logger, encryptKey, verificationToken } = options;
  // Without them anyone could post a forged card callback; the configuration refuses this too.
  if (!encryptKey || !verificationToken)
    throw new Error('HTTP callbacks need FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN');
  const expectedToken: string = verificationToken;
  const maxSkew = options.maxSkewSeconds ?? 300;
  const cipher = new lark.AESCipher(encryptKey);
  const router = new Router();

  async function verifySignature(ctx: Context, raw: Buffer): Promise<void> {
    const timestamp = ctx.get('x-lark-request-timestamp');
    const nonce = ctx.get('x-lark-request-nonce');
    const signature = ctx.get('x-lark-signature');
    if (!timestamp || !nonce || !signature) throw new Rejected('unsigned');
    const expected = createHash('sha256')
      .update(Buffer.concat([Buffer.from(timestamp + nonce + encryptKey, 'utf8'), raw]))
      .digest('hex');
    if (!sameHex(signature, expected)) throw new Rejected('bad signature');
    const skew = Math.abs(Date.now() / 1000 - Number(timestamp));
    if (!Number.isFinite(skew) || skew > maxSkew) throw new Rejected('timestamp outside the window');
    if (!(await firstSighting(db, `nonce:${nonce}`, maxSkew * 2))) throw new Rejected('nonce replayed');
  }

  function decrypt(envelope: Envelope): Envelope {
    if (typeof envelope.encrypt !== 'string') throw new Rejected('not encrypted');
    let plain: string;
    try {
      plain = cipher.decrypt(envelope.encrypt);
    } catch {
      throw new Rejected('does not decrypt');
    }
    return parseJson(plain, 'the decrypted body');
  }

  function checkToken(presented: string | undefined): void {
    if (!presented || !sameHex(presented, expectedToken)) throw new Rejected('bad verification token');
  }

  router.post('/feishu/events', async (ctx) => {
    const raw = await readRawBody(ctx);
    const signed = Boolean(ctx.get('x-lark-signature'));
    let envelope: Envelope;
    try {
      if (signed) await verifySignature(ctx, raw);
      else if (raw.length > MAX_UNSIGNED_BYTES) throw new Rejected('unsigned');
      envelope = decrypt(parseJson(raw.toString('utf8'), 'the body'));
      if (!signed && envelope.type !== 'url_verification') throw new Rejected('unsigned');
      checkToken(envelope.type === 'url_verification' ? envelope.token : envelope.header?.token);
    } catch (err) {
      if (err instanceof Rejected) logger.warn({ reason: err.reason }, 'Feishu callback rejected');
      throw err;
    }
    if (envelope.type === 'url_verification') {
      ctx.body = { challenge: envelope.challenge };
      return;
    }
    const eventType = envelope.header?.event_type;
    const eventId = envelope.header?.event_id;

    if (eventType === 'card.action.trigger') {
      const timer = feishuCallbackDuration.startTimer({ transport: 'http', kind: 'card_action' });
      ctx.body = await handlers.onCardAction(envelope.event, eventId);
      timer();
      return;
    }
    if (eventType === 'im.message.receive_v1') {
      const timer = feishuCallbackDuration.startTimer({ transport: 'http', kind: 'message' });
      try {
        // Handed over before the 200: on a failure Feishu re-delivers the event, and its id names
        // the workflow the first delivery started, so one DM makes one request.
        await handlers.onMessage(envelope.event, eventId);
      } catch (err) {
        logger.warn({ err }, 'bot message not handed over; answered as failed');
        throw err;
      } finally {
        timer();
      }
      ctx.body = {};
      return;
    }
    ctx.body = {};
  });

  return router;
}
