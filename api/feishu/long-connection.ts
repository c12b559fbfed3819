import * as lark from '@larksuiteoapi/node-sdk';
import { sdkLogger } from '../../lib/feishu/sdk-logger.ts';
import type { Logger } from '../../lib/logger.ts';
import { feishuCallbackDuration } from '../../lib/metrics.ts';
import type { CallbackHandlers } from './handlers.ts';

interface Frame {
  headers: { key: string; value: string }[];
}

/**
 * The SDK silently drops data frames whose header type is "card", which Feishu has been seen to
 * send for card callbacks; treating them as events is what the official plugin does too.
 */
function acceptCardFrames(client: lark.WSClient): void {
  const target = client as unknown as { handleEventData(frame: Frame): Promise<void> };
  const original = target.handleEventData.bind(client);
  target.handleEventData = (frame: Frame) =>
    original({
      ...frame,
      headers: frame.headers.map((h) =>
        h.key === 'type' && h.value === 'card' ? { key: 'type', value: 'event' } : h,
      ),
    });
}

/** The SDK hands handlers the envelope's header and event merged: the header's event id is a field. */
function eventIdOf(data: unknown): string | undefined {
  const id = (data as { event_id?: unknown } | undefined)?.event_id;
  return typeof id === 'string' && id ? id : undefined;
}

/** Receives card callbacks and DMs over Feishu's long connection: no public URL needed. */
export async function startLongConnection(options: {
  appId: string;
  appSecret: string;
  domain: string;
  handlers: CallbackHandlers;
  logger: Logger;
}): Promise<lark.WSClient> {
  const { handlers, logger } = options;
  const dispatcher = new lark.EventDispatcher({
    logger: sdkLogger(logger),
    loggerLevel: lark.LoggerLevel.warn,
  }).register({
    'card.action.trigger': async (data: unknown) => {
      const timer = feishuCallbackDuration.startTimer({ transport: 'ws', kind: 'card_action' });
      // The SDK writes the ACK, carrying the answer, as soon as this resolves.
      const answer = await handlers.onCardAction(data, eventIdOf(data));
      timer();
      return answer;
    },
    // Awaited: a DM whose request did not reach Temporal is ACKed as failed (code 500), not as taken.
    'im.message.receive_v1': async (data: unknown) => {
      const timer = feishuCallbackDuration.startTimer({ transport: 'ws', kind: 'message' });
      try {
        await handlers.onMessage(data, eventIdOf(data));
      } catch (err) {
        logger.warn({ err }, 'bot message not handed over; answered as failed');
        throw err;
      } finally {
        timer();
      }
    },
  });
  const client = new lark.WSClient({
    appId: options.appId,
    appSecret: options.appSecret,
    domain: options.domain,
    logger: sdkLogger(logger),
    loggerLevel: lark.LoggerLevel.warn,
    autoReconnect: true,
  });
  acceptCardFrames(client);
  await client.start({ eventDispatcher: dispatcher });
  return client;
}
