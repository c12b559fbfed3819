import type { Prng } from '../../sim/random/prng.ts';
import { cardView, cardsOf, type CardState, type CardView } from './cards.ts';
import { apiHeaders, type ChaosStack } from './stack.ts';

/** What a simulated user does with a card. */
export type Behavior =
  | 'authorize'
  | 'double_click'
  | 'deny'
  | 'wrong_account'
  | 'let_expire'
  | 'cancel'
  | 'retry_then_authorize'
  | 'reauthorize'
  | 'revoke_by_card'
  | 'revoke_by_api';

export const BEHAVIOR_WEIGHTS: Partial<Record<Behavior, number>> = {
  authorize: 40,
  double_click: 8,
  deny: 8,
  wrong_account: 6,
  let_expire: 5,
  cancel: 8,
  retry_then_authorize: 8,
};

/** One thing a user set out to do and the card state it must end in. */
export interface Flow {
  id: number;
  openId: string;
  behavior: Behavior;
  via: 'api' | 'dm' | 'card';
  expected: CardState;
  startedAt: number;
  attemptId?: string;
  messageId?: string;
  endedAt?: number;
  /** The card state seen last. */
  seen?: CardState;
  /** Undefined while open; `ok`, or why it is lost. */
  result?: string;
  /** The redirect pages' outcomes, and clicks and requests that had to be repeated. */
  notes: string[];
}

export interface UserOptions {
  /** Stop starting flows after this (epoch ms). */
  until: number;
  /** How long a user waits for a card to reach its state before the flow counts as lost. */
  patienceMs: number;
  /** Mean pause between a user's flows while authorized (ms): tokens are read and refreshed meanwhile. */
  authorizedHoldMs: number;
}

/** Notes what happened on a flow; a repeat of the last note counts up instead of piling up. */
function note(flow: Flow, text: string): void {
  const last = flow.notes.at(-1);
  const match = last && /^(.*?)(?: ×(\d+))?$/.exec(last);
  if (match && match[1] === text) flow.notes[flow.notes.length - 1] = `${text} ×${Number(match[2] ?? 1) + 1}`;
  else flow.notes.push(text);
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
/** A request to a process that may be dead, or alive and waiting on one that is. */
const call = (url: string, init: RequestInit = {}) =>
  fetch(url, { ...init, signal: AbortSignal.timeout(30_000) });
const ATTEMPT_STATUS: Partial<Record<CardState, string>> = {
  authorized: 'authorized',
  denied: 'denied',
  expired: 'expired',
  cancelled: 'cancelled',
  identity_mismatch: 'identity_mismatch',
};

/**
 * A simulated user (and the service that asks on its behalf): one flow at a time, acting at random
 * moments and repeating only what a person would repeat: a page that did not load, a click that
 * did not go through, a Cancel whose card did not change.
 */
export class SimulatedUser {
  /** Whether the user believes the grant works (token readers use it). */
  authorized = false;
  private seenMessages = new Set<string>();

  constructor(
    readonly openId: string,
    private readonly other: string,
    private readonly stack: ChaosStack,
    private readonly rng: Prng,
    private readonly flows: Flow[],
    /** Codes and states the browser carried: they must appear nowhere in plaintext. */
    private readonly secretsSeen: Set<string>,
    private readonly options: UserOptions,
  ) {}

  async run(): Promise<void> {
    await sleep(this.rng.between(0, 20_000));
    while (Date.now() < this.options.until) {
      const flow = await this.next();
      if (flow.result !== 'ok') return; // a user whose card is stuck waits for it; checked again at the end
      await sleep(
        this.authorized
          ? this.rng.between(0.5, 1.5) * this.options.authorizedHoldMs
          : this.rng.between(1_000, 8_000),
      );
    }
  }

  private newFlow(behavior: Behavior, via: Flow['via'], expected: CardState): Flow {
    const flow: Flow = {
      id: this.flows.length,
      openId: this.openId,
      behavior,
      via,
      expected,
      startedAt: Date.now(),
      notes: [],
    };
    this.flows.push(flow);
    return flow;
  }

  private async next(): Promise<Flow> {
    const reauth = this.unseenPendingCard();
    if (reauth) return this.reauthorize(reauth);
    if (this.authorized) {
      const behavior = this.rng.chance(0.5) ? 'revoke_by_card' : 'revoke_by_api';
      return this.revoke(behavior);
    }
    return this.request(this.rng.weighted(BEHAVIOR_WEIGHTS as Record<Behavior, number>));
  }

  /** A card the service sent on its own (re-authorize) that this user has not dealt with. */
  private unseenPendingCard(): CardView | undefined {
    return cardsOf(this.stack.sandbox, this.openId).find(
      (c) => !this.seenMessages.has(c.messageId) && c.state === 'pending',
    );
  }

  private async reauthorize(card: CardView): Promise<Flow> {
    const flow = this.newFlow('reauthorize', 'card', 'authorized');
    this.authorized = false;
    flow.messageId = card.messageId;
    flow.attemptId = card.attemptId;
    this.seenMessages.add(card.messageId);
    await this.consent(flow, card, this.openId);
    return this.finish(flow);
  }

  private async revoke(behavior: 'revoke_by_card' | 'revoke_by_api'): Promise<Flow> {
    const flow = this.newFlow(behavior, behavior === 'revoke_by_api' ? 'api' : 'card', 'revoked');
    const card = cardsOf(this.stack.sandbox, this.openId).findLast((c) => c.state === 'authorized');
    if (!card) {
      flow.result = 'the authorized card is gone';
      return flow;
    }
    this.authorized = false;
    flow.messageId = card.messageId;
    flow.attemptId = card.attemptId;
    if (behavior === 'revoke_by_card') await this.click(flow, { action: 'revoke' });
    else
      await this.until(flow, async () => {
        const res = await call(`${this.stack.app.apiUrl}/v1/users/${this.openId}/authorization`, {
          method: 'DELETE',
          headers: apiHeaders,
        });
        return res.status === 200;
      });
    return this.finish(flow);
  }

  private async request(behavior: Behavior): Promise<Flow> {
    const via = this.rng.chance(0.3) && behavior !== 'let_expire' ? 'dm' : 'api';
    const expected: CardState =
      behavior === 'deny'
        ? 'denied'
        : behavior === 'wrong_account'
          ? 'identity_mismatch'
          : behavior === 'let_expire'
            ? 'expired'
            : behavior === 'cancel'
              ? 'cancelled'
              : 'authorized';
    const flow = this.newFlow(behavior, via, expected);
    const before = new Set(cardsOf(this.stack.sandbox, this.openId).map((c) => c.messageId));
    for (const id of before) this.seenMessages.add(id);
    if (via === 'api') {
      const body = { open_id: this.openId, ...(behavior === 'let_expire' ? { expires_in_seconds: 30 } : {}) };
      await this.until(flow, async () => {
        const res = await call(`${this.stack.app.apiUrl}/v1/authorizations`, {
          method: 'POST',
          headers: apiHeaders,
          body: JSON.stringify(body),
        });
        if (res.status === 200 || res.status === 202) {
          flow.attemptId =
            ((await res.json()) as { authorization_id: string | null }).authorization_id ?? undefined;
          return true;
        }
        note(flow, `POST ${res.status}`);
        return false;
      });
    } else {
      await this.until(flow, async () => {
        const { delivery } = await this.stack.sandbox.sendUserMessage(
          this.stack.app.appId,
          this.openId,
          '授权',
        );
        if (!delivery.ok) note(flow, 'DM not delivered');
        return delivery.ok;
      });
    }
    const card = await this.waitFor(flow, () =>
      cardsOf(this.stack.sandbox, this.openId).find(
        (c) =>
          c.state === 'pending' &&
          (flow.attemptId ? c.attemptId === flow.attemptId : !before.has(c.messageId)),
      ),
    );
    if (!card) return this.finish(flow);
    flow.messageId = card.messageId;
    flow.attemptId = card.attemptId;
    this.seenMessages.add(card.messageId);
    await this.actOn(flow, card);
    return this.finish(flow);
  }

  private async actOn(flow: Flow, card: CardView): Promise<void> {
    await sleep(this.rng.between(200, 4_000));
    switch (flow.behavior) {
      case 'authorize':
        return this.consent(flow, card, this.openId);
      case 'double_click': {
        const urls = [0, 1].map(() =>
          this.stack.sandbox.approveAuthorization(card.authorizeUrl!, this.openId),
        );
        await Promise.all(urls.map((url) => this.openRedirect(flow, url)));
        return;
      }
      case 'deny':
        await this.openRedirect(flow, this.stack.sandbox.denyAuthorization(card.authorizeUrl!));
        return;
      case 'wrong_account':
        await this.openRedirect(
          flow,
          this.stack.sandbox.approveAuthorization(card.authorizeUrl!, this.other),
        );
        return;
      case 'let_expire':
        return;
      case 'cancel':
        await this.click(flow, { action: 'cancel' });
        return;
      case 'retry_then_authorize': {
        await this.click(flow, { action: 'cancel' });
        const cancelled = await this.waitFor(flow, () => this.state(flow) === 'cancelled' || undefined);
        if (!cancelled) return;
        await this.click(flow, { action: 'retry' });
        const fresh = await this.waitFor(flow, () => {
          const now = cardView(this.stack.sandbox, flow.messageId!);
          return now?.state === 'pending' && now.attemptId !== flow.attemptId ? now : undefined;
        });
        if (!fresh) return;
        flow.attemptId = fresh.attemptId;
        return this.consent(flow, fresh, this.openId);
      }
      default:
        throw new Error(`not a card behavior: ${flow.behavior}`);
    }
  }

  private async consent(flow: Flow, card: CardView, as: string): Promise<void> {
    await this.openRedirect(flow, this.stack.sandbox.approveAuthorization(card.authorizeUrl!, as));
  }

  /** The browser following the redirect to the service; reloaded while the service is down. */
  private async openRedirect(flow: Flow, url: string): Promise<void> {
    for (const name of ['code', 'state']) {
      const value = new URL(url).searchParams.get(name);
      if (value) this.secretsSeen.add(value);
    }
    await this.until(flow, async () => {
      const res = await call(url, { headers: { 'accept-language': 'en' } });
      const outcome = /data-outcome="([a-z_]+)"/.exec(await res.text())?.[1];
      if (res.status >= 500 || !outcome) {
        note(flow, `redirect ${res.status}`);
        return false;
      }
      note(flow, `page ${outcome}`);
      return true;
    });
  }

  /** Clicks a button on the flow's card until the click goes through. */
  private async click(flow: Flow, value: Record<string, string>): Promise<void> {
    await this.until(flow, async () => {
      const result = await this.stack.sandbox.clickCardButton(
        flow.messageId!,
        { ...value, attempt_id: flow.attemptId! },
        this.openId,
      );
      if (!result.ok) note(flow, `click ${value.action} not delivered: ${result.error}`);
      // The service says the click did not go through (its work did not reach Temporal): press again.
      else if (result.toast?.type === 'error')
        note(flow, `click ${value.action} answered: ${result.toast.content}`);
      return Boolean(result.ok) && result.toast?.type !== 'error';
    });
  }

  private state(flow: Flow): CardState | undefined {
    return flow.messageId ? cardView(this.stack.sandbox, flow.messageId)?.state : undefined;
  }

  /**
   * Waits for the card to show the expected state. What a person would do meanwhile is done: a
   * Cancel that did not take is pressed again, and a card that says Feishu failed gets Retry and
   * the same answer once more.
   */
  private async finish(flow: Flow): Promise<Flow> {
    if (flow.result !== undefined) return flow;
    let lastPress = Date.now();
    let retries = 0;
    const reached = await this.waitFor(flow, async () => {
      const state = this.state(flow);
      flow.seen = state;
      if (state === flow.expected) return true;
      if (flow.expected === 'cancelled' && state === 'pending' && Date.now() - lastPress > 30_000) {
        note(flow, 'cancel pressed again');
        lastPress = Date.now();
        await this.click(flow, { action: 'cancel' });
      }
      if (state === 'failed' && retries < 3) {
        retries += 1;
        note(flow, 'card failed: Retry pressed');
        await this.click(flow, { action: 'retry' });
        const fresh = await this.waitFor(flow, () => {
          const now = cardView(this.stack.sandbox, flow.messageId!);
          return now?.state === 'pending' && now.attemptId !== flow.attemptId ? now : undefined;
        });
        if (fresh) {
          flow.attemptId = fresh.attemptId;
          await this.answerAgain(flow, fresh);
        }
      }
      return undefined;
    });
    if (!reached) {
      flow.result = `card ${flow.seen ?? 'missing'} after ${Math.round(this.options.patienceMs / 1000)} s, expected ${flow.expected}`;
      flow.endedAt = Date.now();
      return flow;
    }
    flow.result = await this.statusAgrees(flow);
    flow.endedAt = Date.now();
    if (flow.result === 'ok') this.authorized = flow.expected === 'authorized';
    return flow;
  }

  /** The user's answer on a card that replaced a failed one. */
  private async answerAgain(flow: Flow, card: CardView): Promise<void> {
    switch (flow.expected) {
      case 'authorized':
        return this.consent(flow, card, this.openId);
      case 'identity_mismatch':
        return this.consent(flow, card, this.other);
      case 'denied':
        return this.openRedirect(flow, this.stack.sandbox.denyAuthorization(card.authorizeUrl!));
      case 'cancelled':
        return this.click(flow, { action: 'cancel' });
      default:
        return;
    }
  }

  /** What the status API says of the flow's attempt (or grant, for a revocation) agrees with the card. */
  private async statusAgrees(flow: Flow): Promise<string> {
    let answer: { status?: string; attempt: { id: string; status: string } | null } | undefined;
    await this.until(flow, async () => {
      const res = await call(`${this.stack.app.apiUrl}/v1/authorizations/${this.openId}`, {
        headers: apiHeaders,
      });
      if (res.status !== 200) return false;
      answer = (await res.json()) as typeof answer;
      return true;
    });
    if (!answer) return 'the status API never answered';
    if (flow.expected === 'revoked')
      return answer.status === 'revoked' ? 'ok' : `status API says ${answer.status}`;
    if (answer.attempt?.id !== flow.attemptId) return 'ok'; // a newer attempt (a re-authorize card) is already out
    const want = ATTEMPT_STATUS[flow.expected];
    return answer.attempt?.status === want
      ? 'ok'
      : `status API says ${answer.attempt?.status}, card ${flow.expected}`;
  }

  /** Repeats `attempt` every 2 s until it returns true or the flow's patience runs out. */
  private async until(flow: Flow, attempt: () => Promise<boolean>): Promise<boolean> {
    return Boolean(
      await this.waitFor(flow, async () => {
        const done = await attempt().catch(() => false);
        if (!done) await sleep(2_000);
        return done || undefined;
      }),
    );
  }

  private async waitFor<T>(
    flow: Flow,
    check: () => T | undefined | Promise<T | undefined>,
  ): Promise<T | undefined> {
    const deadline = flow.startedAt + this.options.patienceMs;
    while (Date.now() < deadline) {
      const value = await check();
      if (value !== undefined && value !== false) return value;
      await sleep(250);
    }
    return undefined;
  }
}
