import * as lark from '@larksuiteoapi/node-sdk';
import { sdkLogger } from '../../lib/feishu/sdk-logger.ts';
import type { Logger } from '../../lib/logger.ts';
import { feishuCallbackDuration } from '../../lib/metrics.ts';
import { runAfterAnswer, type CallbackHandlers } from './handlers.ts';

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
      const { answer, after } = await handlers.onCardAction(data);
      timer();
      // The SDK writes the ACK as soon as this handler resolves; the card changes after that.
      if (after) setTimeout(() => void runAfterAnswer(after, logger), 0);
      return answer;
    },
    'im.message.receive_v1': (data: unknown) => {
      const timer = feishuCallbackDuration.startTimer({ transport: 'ws', kind: 'message' });
      handlers
        .onMessage(data)
        .catch((err: unknown) => logger.error({ err }, 'bot message handling failed'))
        .finally(() => timer());
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
