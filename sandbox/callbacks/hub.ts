import type { App } from '../config.ts';
import { randomHex } from '../ids.ts';
import type { Runtime } from '../runtime.ts';
import type { Envelope } from './envelopes.ts';
import { urlVerification } from './envelopes.ts';
import { buildRequest, post } from './http.ts';
import { WsGateway } from './ws-server.ts';

export interface Delivery {
  ok: boolean;
  /** The handler's answer: the HTTP response body, or the data carried back in the WS ACK. */
  answer: unknown;
  error: string | undefined;
  via: 'ws' | 'http';
}

/** Delivers events and card callbacks to the service by the app's callback mode, and logs every attempt. */
export class CallbackHub {
  readonly ws: WsGateway;

  constructor(private readonly rt: Runtime) {
    this.ws = new WsGateway(rt);
  }

  async deliver(app: App, envelope: Envelope, messageId?: string): Promise<Delivery> {
    const started = Date.now();
    const isCard = envelope.header.event_type === 'card.action.trigger';
    const delivery =
      app.callback.mode === 'ws'
        ? await this.viaWs(app, envelope, isCard)
        : await this.viaHttp(app, envelope);
    this.rt.store.deliveries.push({
      id: randomHex(8),
      at: started,
      appId: app.appId,
      eventType: envelope.header.event_type,
      eventId: envelope.header.event_id,
      via: delivery.via,
      messageId,
      ok: delivery.ok,
      durationMs: Date.now() - started,
      answer: delivery.answer,
      error: delivery.error,
    });
    return delivery;
  }

  private async viaWs(app: App, envelope: Envelope, isCard: boolean): Promise<Delivery> {
    const { cardFrameType, wsFragments } = this.rt.faults.settings;
    const result = await this.ws.deliver(app.appId, envelope, {
      frameType: isCard ? cardFrameType : 'event',
      fragments: wsFragments,
    });
    return { ok: result.ok, answer: result.answer, error: result.error, via: 'ws' };
  }

  private async viaHttp(app: App, payload: unknown): Promise<Delivery> {
    try {
      const answer = await post(
        app.callback.url!,
        buildRequest(app, payload),
        this.rt.config.lifetimes.callbackTimeoutMs,
      );
      const ok = answer.status >= 200 && answer.status < 300;
      return { ok, answer: answer.body, error: ok ? undefined : `HTTP ${answer.status}`, via: 'http' };
    } catch (err) {
      return {
        ok: false,
        answer: undefined,
        error: err instanceof Error ? err.message : String(err),
        via: 'http',
      };
    }
  }

  /** What the console does when a request URL is saved: the service must echo the challenge. */
  async verifyUrl(app: App): Promise<{ ok: boolean; error: string | undefined }> {
    if (app.callback.mode !== 'http') return { ok: false, error: 'the app does not use HTTP callbacks' };
    const challenge = randomHex(16);
    const result = await this.viaHttp(app, urlVerification(app, challenge));
    const echoed = (result.answer as { challenge?: unknown } | undefined)?.challenge;
    if (result.ok && echoed === challenge) return { ok: true, error: undefined };
    return {
      ok: false,
      error: result.error ?? `challenge not echoed (got ${JSON.stringify(result.answer)})`,
    };
  }

  close(): void {
    this.ws.close();
  }
}
