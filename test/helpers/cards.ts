import type { Sandbox } from '../../sandbox/index.ts';

interface CardElement {
  tag?: string;
  content?: string;
  behaviors?: { type: string; default_url?: string; value?: Record<string, unknown> }[];
}

interface Card {
  header?: { title?: { content?: string }; template?: string };
  body?: { elements?: CardElement[] };
}

/** Polls until check returns a value; fails the test with `what` when the deadline passes. */
export async function eventually<T>(
  what: string,
  check: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined && value !== false) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

export function cardOf(sandbox: Sandbox, messageId: string): Card {
  return sandbox.state.message(messageId)?.card as Card;
}

export function cardTitle(card: Card): string | undefined {
  return card.header?.title?.content;
}

export function authorizeUrlOf(card: Card): string {
  const url = card.body?.elements
    ?.flatMap((e) => e.behaviors ?? [])
    .find((b) => b.type === 'open_url')?.default_url;
  if (!url) throw new Error('the card has no Authorize link');
  return url;
}

/** The one card the bot sent this user (the tests assert there is never a second). */
export async function onlyCardFor(sandbox: Sandbox, openId: string) {
  return eventually(`a card for ${openId}`, () => {
    const messages = sandbox.state.messages({ openId }).filter((m) => m.msgType === 'interactive');
    return messages.length > 0 ? messages : undefined;
  });
}
