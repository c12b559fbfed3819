import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import type Router from '@koa/router';
import { WebSocketServer, type WebSocket } from 'ws';
import { jsonBody } from '../http/body.ts';
import { randomHex, newUuid } from '../ids.ts';
import type { Runtime } from '../runtime.ts';
import { decodeFrame, encodeFrame, header, METHOD_CONTROL, METHOD_DATA, type Frame } from './ws-protocol.ts';

export const WS_ENDPOINT_PATH = '/callback/ws/endpoint';
const CONNECT_PATH = '/callback/ws/connect';
const TICKET_TTL_MS = 30_000;
const MAX_CONNECTIONS_PER_APP = 50;

interface Connection {
  id: string;
  appId: string;
  serviceId: number;
  socket: WebSocket;
  connectedAt: number;
  pings: number;
  acks: Map<string, (payload: Uint8Array | undefined) => void>;
}

export interface WsAnswer {
  ok: boolean;
  answer: unknown;
  error: string | undefined;
  connectionId: string | undefined;
}

export interface SendOptions {
  /** Feishu sends `event`; `card` reproduces the frames the SDK silently drops. */
  frameType: 'event' | 'card';
  /** Split the payload into this many frames (sum/seq headers), as the gateway may. */
  fragments: number;
}

/** The gateway side of the SDK's long connection: endpoint discovery, the socket, pings, events and their ACKs. */
export class WsGateway {
  private readonly wss = new WebSocketServer({ noServer: true });
  private readonly tickets = new Map<string, { appId: string; serviceId: number; expiresAt: number }>();
  private readonly connections = new Map<string, Connection>();
  private seq = 1;

  constructor(private readonly rt: Runtime) {}

  registerRoutes(router: Router): void {
    // Answers are 200 with a code, like the real gateway: the SDK gives up for good on any code but 1000040343.
    router.post(WS_ENDPOINT_PATH, async (ctx) => {
      const body = await jsonBody(ctx);
      const app = typeof body?.AppID === 'string' ? this.rt.store.app(body.AppID) : undefined;
      if (!app) return void (ctx.body = { code: 403, msg: 'forbidden: unknown app' });
      if (body?.AppSecret !== app.appSecret) return void (ctx.body = { code: 514, msg: 'auth failed' });
      if (this.open(app.appId).length >= MAX_CONNECTIONS_PER_APP) {
        return void (ctx.body = { code: 1000040350, msg: 'exceed connection limit' });
      }
      const ticket = randomHex(16);
      const serviceId = 10000 + Math.floor(Math.random() * 90000);
      this.tickets.set(ticket, { appId: app.appId, serviceId, expiresAt: Date.now() + TICKET_TTL_MS });
      const base = this.rt.baseUrl.replace(/^http/, 'ws');
      // The SDK parses the whole URL as a query string, so its first parameter is lost: keep service_id second.
      const url = `${base}${CONNECT_PATH}?device_id=${newUuid()}&service_id=${serviceId}&ticket=${ticket}`;
      ctx.body = { code: 0, msg: 'ok', data: { URL: url, ClientConfig: this.rt.config.wsClientConfig } };
    });
  }

  /** Wired to the HTTP server's `upgrade` event. */
  handleUpgrade(request: IncomingMessage, socket: Duplex, head: Buffer): void {
    const url = new URL(request.url ?? '/', 'http://sandbox.invalid');
    const ticket = this.tickets.get(url.searchParams.get('ticket') ?? '');
    if (url.pathname !== CONNECT_PATH || !ticket || Date.now() > ticket.expiresAt) {
      socket.end('HTTP/1.1 401 Unauthorized\r\nConnection: close\r\n\r\n');
      return;
    }
    this.tickets.delete(url.searchParams.get('ticket')!);
    this.wss.handleUpgrade(request, socket, head, (ws) => this.accept(ws, ticket.appId, ticket.serviceId));
  }

  private accept(socket: WebSocket, appId: string, serviceId: number): void {
    const connection: Connection = {
      id: randomHex(8),
      appId,
      serviceId,
      socket,
      connectedAt: Date.now(),
      pings: 0,
      acks: new Map(),
    };
    this.connections.set(connection.id, connection);
    socket.on('message', (data: Buffer) => this.onFrame(connection, data));
    socket.on('close', () => {
      this.connections.delete(connection.id);
      for (const resolve of connection.acks.values()) resolve(undefined);
    });
    socket.on('error', (err) => this.rt.logger.debug({ err }, 'sandbox: ws socket error'));
    this.rt.logger.debug({ appId, connection: connection.id }, 'sandbox: ws client connected');
  }

  private onFrame(connection: Connection, data: Buffer): void {
    let frame: Frame;
    try {
      frame = decodeFrame(data);
    } catch (err) {
      this.rt.logger.warn({ err }, 'sandbox: undecodable ws frame');
      return;
    }
    if (frame.method === METHOD_CONTROL && header(frame, 'type') === 'ping') {
      connection.pings += 1;
      // All four ClientConfig fields, always: a partial pong turns the SDK's ping interval into NaN.
      this.send(connection, {
        ...frame,
        headers: [{ key: 'type', value: 'pong' }],
        payload: Buffer.from(JSON.stringify(this.rt.config.wsClientConfig)),
      });
      return;
    }
    if (frame.method === METHOD_DATA) {
      const messageId = header(frame, 'message_id');
      if (messageId) connection.acks.get(messageId)?.(frame.payload);
    }
  }

  private send(connection: Connection, frame: Frame): void {
    connection.socket.send(encodeFrame(frame));
  }

  open(appId?: string): Connection[] {
    return [...this.connections.values()].filter(
      (c) => (appId === undefined || c.appId === appId) && c.socket.readyState === c.socket.OPEN,
    );
  }

  /** Sends to one random connection of the app (Feishu's behaviour with several) and waits for its ACK. */
  async deliver(appId: string, payload: unknown, options: SendOptions): Promise<WsAnswer> {
    const candidates = this.open(appId);
    const connection = candidates[Math.floor(Math.random() * candidates.length)];
    if (!connection)
      return { ok: false, answer: undefined, error: 'no long connection', connectionId: undefined };
    const messageId = randomHex(16);
    const bytes = Buffer.from(JSON.stringify(payload));
    const parts = Math.max(1, Math.min(options.fragments, bytes.length));
    const size = Math.ceil(bytes.length / parts);
    const ack = new Promise<Uint8Array | undefined>((resolve) => {
      const timer = setTimeout(() => resolve(undefined), this.rt.config.lifetimes.callbackTimeoutMs);
      connection.acks.set(messageId, (p) => {
        clearTimeout(timer);
        resolve(p);
      });
    });
    const traceId = randomHex(8);
    for (let i = 0; i < parts; i += 1) {
      this.send(connection, {
        SeqID: this.seq++,
        LogID: Date.now(),
        service: connection.serviceId,
        method: METHOD_DATA,
        headers: [
          { key: 'type', value: options.frameType },
          { key: 'message_id', value: messageId },
          { key: 'sum', value: String(parts) },
          { key: 'seq', value: String(i) },
          { key: 'trace_id', value: traceId },
        ],
        payload: bytes.subarray(i * size, (i + 1) * size),
      });
    }
    const ackPayload = await ack;
    connection.acks.delete(messageId);
    return { ...parseAck(ackPayload), connectionId: connection.id };
  }

  drop(appId?: string): number {
    const targets = this.open(appId);
    for (const c of targets) c.socket.terminate();
    return targets.length;
  }

  snapshot() {
    return this.open().map((c) => ({
      id: c.id,
      appId: c.appId,
      serviceId: c.serviceId,
      connectedAt: c.connectedAt,
      pings: c.pings,
    }));
  }

  close(): void {
    for (const c of this.connections.values()) c.socket.terminate();
    this.wss.close();
  }
}

/** ACK payload: `{"code":200,"data":base64(JSON answer)}`, `{"code":200}` without answer, `{"code":500}` when the handler threw. */
function parseAck(payload: Uint8Array | undefined): Omit<WsAnswer, 'connectionId'> {
  if (!payload) return { ok: false, answer: undefined, error: 'no ACK before the callback timeout' };
  try {
    const ack = JSON.parse(Buffer.from(payload).toString('utf8')) as { code?: number; data?: string };
    if (ack.code !== 200)
      return { ok: false, answer: undefined, error: `handler failed (ACK code ${ack.code})` };
    const answer: unknown = ack.data
      ? JSON.parse(Buffer.from(ack.data, 'base64').toString('utf8'))
      : undefined;
    return { ok: true, answer, error: undefined };
  } catch {
    return { ok: false, answer: undefined, error: 'unreadable ACK payload' };
  }
}
