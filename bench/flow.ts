import { performance } from 'node:perf_hooks';
import type { Sandbox } from '../sandbox/index.ts';
import { BENCH_API_KEY } from './provision.ts';

interface CardJson {
  header?: { title?: { content?: string } };
  body?: { elements?: { behaviors?: { type: string; default_url?: string }[] }[] };
}

/**
 * Follows the sandbox's message stream (`/__sandbox/stream`, what the chat view uses) so a
 * simulated user learns of its card, and of each update to it, without polling every message.
 */
export class MessageWatcher {
  private readonly byOpenId = new Map<string, string>();
  private readonly openIdWaiters = new Map<string, (messageId: string) => void>();
  private readonly versionWaiters = new Map<string, () => void>();
  private readonly abort = new AbortController();

  private constructor(private readonly sandbox: Sandbox) {}

  static async connect(sandbox: Sandbox, appId: string): Promise<MessageWatcher> {
    const watcher = new MessageWatcher(sandbox);
    const res = await fetch(`${sandbox.url}/__sandbox/stream?app_id=${appId}`, {
      signal: watcher.abort.signal,
    });
    if (!res.ok || !res.body) throw new Error(`the sandbox stream answered ${res.status}`);
    void watcher.read(res.body);
    return watcher;
  }

  private async read(body: ReadableStream<Uint8Array>): Promise<void> {
    const decoder = new TextDecoder();
    let buffer = '';
    try {
      for await (const chunk of body) {
        buffer += decoder.decode(chunk, { stream: true });
        let end: number;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          const frame = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          const data = frame
            .split('\n')
            .filter((l) => l.startsWith('data: '))
            .map((l) => l.slice(6))
            .join('');
          if (data) this.onEvent(JSON.parse(data) as { messageId: string; openId: string });
        }
      }
    } catch (err) {
      if (!this.abort.signal.aborted) throw err;
    }
  }

  private onEvent(event: { messageId: string; openId: string }): void {
    if (!this.byOpenId.has(event.openId)) {
      this.byOpenId.set(event.openId, event.messageId);
      this.openIdWaiters.get(event.openId)?.(event.messageId);
      this.openIdWaiters.delete(event.openId);
    }
    this.versionWaiters.get(event.messageId)?.();
  }

  /** The first message the bot sent this user (the authorization card). */
  messageFor(openId: string, timeoutMs = 30_000): Promise<string> {
    const known = this.byOpenId.get(openId);
    if (known) return Promise.resolve(known);
    return withTimeout(
      new Promise<string>((resolve) => this.openIdWaiters.set(openId, resolve)),
      timeoutMs,
      `no card for ${openId}`,
    );
  }

  /** When (sandbox clock, epoch ms) the message first reached a version whose card `accept`s. */
  async versionWhere(
    messageId: string,
    accept: (card: CardJson) => boolean,
    timeoutMs = 30_000,
  ): Promise<number> {
    const check = (): number | undefined => {
      const message = this.sandbox.state.message(messageId);
      for (const version of message?.versions ?? []) {
        if (version.version > 1 && accept(JSON.parse(version.content) as CardJson)) return version.at;
      }
      return undefined;
    };
    const now = check();
    if (now !== undefined) return now;
    return withTimeout(
      new Promise<number>((resolve) => {
        this.versionWaiters.set(messageId, () => {
          const at = check();
          if (at === undefined) return;
          this.versionWaiters.delete(messageId);
          resolve(at);
        });
      }),
      timeoutMs,
      `message ${messageId} was not updated`,
    );
  }

  close(): void {
    this.abort.abort();
  }
}

function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise,
    new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`timed out: ${what}`)), ms);
    }),
  ]).finally(() => clearTimeout(timer));
}

export const AUTHORIZED_TITLE = '已授权';

export function authorizeUrlOf(card: CardJson): string {
  const url = card.body?.elements
    ?.flatMap((e) => e.behaviors ?? [])
    .find((b) => b.type === 'open_url')?.default_url;
  if (!url) throw new Error('the card has no Authorize link');
  return url;
}

export interface FlowTiming {
  /** From the flow's due time until POST /v1/authorizations answered (the card is sent by then). */
  requestMs: number;
  /** Browser lands on /oauth/callback until the page with the outcome arrived. */
  redirectToPageMs: number;
  /** Same start until the sandbox recorded the PATCH showing "authorized". */
  redirectToCardMs: number;
  totalMs: number;
}

/**
 * One simulated user, the whole way: the service asks for authorization, the user finds the card,
 * consents (in-process, as the sandbox's consent page would), the browser follows the redirect,
 * and the same card turns to "authorized".
 */
export async function runFlow(
  sandbox: Sandbox,
  watcher: MessageWatcher,
  apiUrl: string,
  openId: string,
  /** When the flow was due to start (performance.now() time); an open loop passes its schedule. */
  dueAt = performance.now(),
): Promise<FlowTiming> {
  const t0 = dueAt;
  const res = await fetch(`${apiUrl}/v1/authorizations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${BENCH_API_KEY}` },
    body: JSON.stringify({ open_id: openId }),
  });
  const body = await res.text();
  if (res.status !== 202) throw new Error(`POST /v1/authorizations answered ${res.status}: ${body}`);
  const tRequested = performance.now();
  const messageId = await watcher.messageFor(openId);
  const card = sandbox.state.message(messageId)?.card as CardJson | undefined;
  if (!card) throw new Error(`message ${messageId} has no card`);
  const redirect = sandbox.approveAuthorization(authorizeUrlOf(card), openId);

  const redirectEpoch = Date.now();
  const tRedirect = performance.now();
  const page = await fetch(redirect, { headers: { 'accept-language': 'en-US,en;q=0.9' } });
  const html = await page.text();
  const tPage = performance.now();
  if (page.status !== 200 || !html.includes('data-outcome="authorized"')) {
    const outcome = /data-outcome="([^"]*)"/.exec(html)?.[1];
    throw new Error(`the redirect page answered ${page.status} with outcome ${outcome ?? 'none'}`);
  }
  const cardAt = await watcher.versionWhere(messageId, (c) => c.header?.title?.content === AUTHORIZED_TITLE);
  return {
    requestMs: tRequested - t0,
    redirectToPageMs: tPage - tRedirect,
    redirectToCardMs: Math.max(0, cardAt - redirectEpoch),
    totalMs: performance.now() - t0,
  };
}
