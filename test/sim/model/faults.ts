import { FeishuApiError } from '../../../lib/feishu/errors.ts';

export type FeishuEndpoint = 'send' | 'patch' | 'token' | 'user_info';

/** The endpoint names the real gateway puts in its errors. */
export const ENDPOINT_NAMES: Record<FeishuEndpoint, string> = {
  send: 'POST /open-apis/im/v1/messages',
  patch: 'PATCH /open-apis/im/v1/messages/:message_id',
  token: 'POST /oauth/v3/token',
  user_info: 'GET /open-apis/authen/v1/user_info',
};

interface Window {
  from: number;
  to: number;
}

/** Feishu's answer to our app's credentials while its secret is wrong (docs/troubleshooting.md). */
const BAD_CLIENT_SECRET = 20002;

/**
 * Feishu's bad days, in server time: outages (every call answers 503), 429 bursts with
 * x-ogw-ratelimit-reset, single 5xx blips, refresh answers lost on the way back, and a wrong app
 * secret (the token endpoint refuses us until an operator fixes it). Also our own bad day: PostgreSQL
 * down.
 */
export class Faults {
  private outages: Window[] = [];
  private throttles: (Window & { retryAfterSeconds: number })[] = [];
  private badSecrets: Window[] = [];
  private databaseOutages: Window[] = [];
  private blips = 0;
  private readonly lostRefreshAnswers = new Set<string>();
  /** Calls answered with a fault, by endpoint. */
  readonly refused: Record<FeishuEndpoint, number> = { send: 0, patch: 0, token: 0, user_info: 0 };
  /** Store calls refused while the database was down. */
  refusedByDatabase = 0;

  outage(from: number, minutes: number): void {
    this.outages.push({ from, to: from + minutes * 60_000 });
  }

  throttle(from: number, minutes: number, retryAfterSeconds: number): void {
    this.throttles.push({ from, to: from + minutes * 60_000, retryAfterSeconds });
  }

  /** An operator deploys a wrong app secret: the token endpoint refuses every call for a while. */
  wrongAppSecret(from: number, minutes: number): void {
    this.badSecrets.push({ from, to: from + minutes * 60_000 });
  }

  /** PostgreSQL is down: every activity that reads or writes the store fails and is retried. */
  databaseOutage(from: number, minutes: number): void {
    this.databaseOutages.push({ from, to: from + minutes * 60_000 });
  }

  /** Throws what pg throws while the database is down; the activity's retry policy takes it from there. */
  checkDatabase(now: number): void {
    if (this.databaseOutages.some((w) => w.from <= now && now < w.to)) {
      this.refusedByDatabase++;
      throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
    }
  }

  /** The next `count` Feishu calls, whichever they are, answer a 5xx. */
  blip(count: number): void {
    this.blips += count;
  }

  /** The user's next refresh rotates at Feishu, but its answer never reaches us. */
  loseNextRefreshAnswer(openId: string): void {
    this.lostRefreshAnswers.add(openId);
  }

  takeLostRefreshAnswer(openId: string): boolean {
    return this.lostRefreshAnswers.delete(openId);
  }

  inOutage(now: number): boolean {
    this.outages = this.outages.filter((w) => w.to > now);
    return this.outages.some((w) => w.from <= now);
  }

  /** Throws what Feishu answers instead of serving the call while a fault is on. */
  check(now: number, endpoint: FeishuEndpoint): void {
    const fault = this.faultAt(now, endpoint);
    if (!fault) return;
    this.refused[endpoint]++;
    throw fault;
  }

  private faultAt(now: number, endpoint: FeishuEndpoint): FeishuApiError | undefined {
    const name = ENDPOINT_NAMES[endpoint];
    if (this.inOutage(now)) return new FeishuApiError(name, 503, 0);
    this.badSecrets = this.badSecrets.filter((w) => w.to > now);
    if (endpoint === 'token' && this.badSecrets.some((w) => w.from <= now)) {
      return new FeishuApiError(name, 400, BAD_CLIENT_SECRET);
    }
    this.throttles = this.throttles.filter((w) => w.to > now);
    const throttle = this.throttles.find((w) => w.from <= now);
    if (throttle) return new FeishuApiError(name, 429, 99991400, throttle.retryAfterSeconds);
    if (this.blips > 0) {
      this.blips--;
      return new FeishuApiError(name, 502, 0);
    }
    return undefined;
  }
}
