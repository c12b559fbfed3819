import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';
import type { WebhookEventBody } from '../lib/webhooks/events.ts';

export interface ReceivedWebhook {
  headers: Record<string, string>;
  raw: string;
  body: WebhookEventBody;
  /** When it arrived (epoch ms). */
  at: number;
}

/**
 * A subscriber as an integrator would write it: a real HTTP server that checks every request
 * with the standardwebhooks verifier and answers 2xx only for one that verifies. While `down`,
 * it drops connections without answering, as a dead host would.
 */
export async function startWebhookReceiver(secret: () => string) {
  const received: ReceivedWebhook[] = [];
  const rejected: string[] = [];
  let down = false;
  const server = http.createServer((req, res) => {
    if (down) {
      req.socket.destroy();
      return;
    }
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      const headers = Object.fromEntries(
        Object.entries(req.headers).map(([k, v]) => [k, Array.isArray(v) ? v.join(',') : (v ?? '')]),
      );
      try {
        const body = new Webhook(secret()).verify(raw, headers) as WebhookEventBody;
        received.push({ headers, raw, body, at: Date.now() });
        res.writeHead(204).end();
      } catch (err) {
        rejected.push((err as Error).message);
        res.writeHead(400).end();
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`;
  return {
    url,
    received,
    rejected,
    setDown(value: boolean) {
      down = value;
    },
    /** The events received about one user, in arrival order. */
    eventsFor: (openId: string) => received.filter((r) => r.body.open_id === openId).map((r) => r.body),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type WebhookReceiver = Awaited<ReturnType<typeof startWebhookReceiver>>;
