import { Prng } from './prng.ts';

const MINUTE_DAYS = 1 / 1440;

export const SCOPES = [
  'calendar:calendar:readonly',
  'docx:document:readonly',
  'drive:drive:readonly',
  'im:message:readonly',
  'contact:user.base:readonly',
  'task:task:read',
] as const;

/** What a user does with the newest card that has an Authorize button. */
export type Reaction = 'consent' | 'deny' | 'wrong_account' | 'cancel';

export type PlannedEvent = { day: number } & (
  | { kind: 'request'; user: number; via: 'api' | 'bot_message'; scope?: string }
  | { kind: 'answer'; user: number; reaction: Reaction }
  | { kind: 'retry'; user: number }
  | { kind: 'read_token'; user: number }
  | { kind: 'revoke'; user: number; via: 'api' | 'card' }
  | { kind: 'lose_refresh_answer'; user: number }
  | { kind: 'withdraw'; user: number }
  | { kind: 'outage'; minutes: number }
  | { kind: 'throttle'; minutes: number; retryAfterSeconds: number }
  | { kind: 'blips'; count: number }
  | { kind: 'restart_worker' }
);

/** How often each thing happens, per grant (or for the whole app) per day. */
export interface Rates {
  request: number;
  answer: number;
  retry: number;
  readToken: number;
  revoke: number;
  loseRefreshAnswer: number;
  withdraw: number;
  outage: number;
  throttle: number;
  blips: number;
  restartWorker: number;
}

export const DEFAULT_RATES: Rates = {
  request: 1 / 25,
  answer: 1 / 12,
  retry: 1 / 40,
  readToken: 1 / 8,
  revoke: 1 / 250,
  loseRefreshAnswer: 1 / 150,
  withdraw: 1 / 400,
  outage: 1 / 30,
  throttle: 1 / 15,
  blips: 1 / 5,
  restartWorker: 1 / 20,
};

const REACTIONS: Record<Reaction | 'ignore', number> = {
  consent: 60,
  deny: 8,
  wrong_account: 5,
  cancel: 10,
  ignore: 17,
};

export interface PlanOptions {
  seed: number;
  grants: number;
  days: number;
  rates?: Partial<Rates>;
}

/**
 * Everything that will happen to a simulation's grants, drawn from the seed alone (never from
 * what the system does), so a seed names the same event list every time.
 */
export function planSimulation({ seed, grants, days, rates: overrides }: PlanOptions): PlannedEvent[] {
  const rng = new Prng(seed);
  const rates = { ...DEFAULT_RATES, ...overrides };
  const events: PlannedEvent[] = [];
  const push = (event: PlannedEvent) => events.push(event);

  /** A request, and how the user reacts to its card: mostly at once, sometimes after it expired. */
  const request = (user: number, day: number, first: boolean) => {
    const via = rng.chance(0.5) ? 'api' : 'bot_message';
    push({ day, kind: 'request', user, via, scope: first || rng.chance(0.5) ? rng.pick(SCOPES) : undefined });
    const reaction = rng.weighted(REACTIONS);
    if (reaction === 'ignore') return;
    const delay = rng.chance(0.8) ? rng.between(0.5, 8) * MINUTE_DAYS : rng.between(10 * MINUTE_DAYS, 2);
    push({ day: day + delay, kind: 'answer', user, reaction });
  };

  for (let user = 0; user < grants; user++) {
    request(user, rng.between(0, 0.5), true);
    for (const day of rng.times(rates.request, 0.5, days)) request(user, day, false);
    for (const day of rng.times(rates.answer, 0, days)) {
      const reaction = rng.weighted({ ...REACTIONS, ignore: 0 }) as Reaction;
      push({ day, kind: 'answer', user, reaction });
    }
    for (const day of rng.times(rates.retry, 0, days)) push({ day, kind: 'retry', user });
    for (const day of rng.times(rates.readToken, 0, days)) push({ day, kind: 'read_token', user });
    for (const day of rng.times(rates.revoke, 0, days)) {
      push({ day, kind: 'revoke', user, via: rng.chance(0.5) ? 'api' : 'card' });
    }
    for (const day of rng.times(rates.loseRefreshAnswer, 0, days)) {
      push({ day, kind: 'lose_refresh_answer', user });
    }
    for (const day of rng.times(rates.withdraw, 0, days)) push({ day, kind: 'withdraw', user });
  }
  for (const day of rng.times(rates.outage, 0, days)) {
    push({ day, kind: 'outage', minutes: rng.int(5, 180) });
  }
  for (const day of rng.times(rates.throttle, 0, days)) {
    push({ day, kind: 'throttle', minutes: rng.int(1, 20), retryAfterSeconds: rng.int(1, 60) });
  }
  for (const day of rng.times(rates.blips, 0, days)) push({ day, kind: 'blips', count: rng.int(1, 3) });
  for (const day of rng.times(rates.restartWorker, 0, days)) push({ day, kind: 'restart_worker' });
  return events.sort((a, b) => a.day - b.day);
}

export function userOpenId(user: number): string {
  return `ou_sim_${user}`;
}

/** One line per event, as the failure report prints the plan. */
export function describeEvent(event: PlannedEvent): string {
  const { day, kind, ...rest } = event;
  const details = Object.entries(rest)
    .filter(([, value]) => value !== undefined)
    .map(([key, value]) => (key === 'user' ? userOpenId(value as number) : `${key}=${String(value)}`));
  return `day ${day.toFixed(3)} ${kind} ${details.join(' ')}`;
}
