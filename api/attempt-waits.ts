import type { Db } from '../lib/db.ts';
import type { Logger } from '../lib/logger.ts';
import { PgListener } from '../lib/pg-listener.ts';
import { getSession, type SessionRow } from '../lib/store/sessions.ts';

/** The channel db/migrations/1732770000003_attempt-settled-notify.sql notifies, with the attempt id. */
const CHANNEL = 'attempt_settled';

/**
 * Long-polls (`?wait=N`) on attempts, woken by PostgreSQL: a trigger NOTIFYs when an attempt leaves
 * `pending`, and one LISTEN connection per replica wakes the requests waiting on it, so a waiting
 * request costs a timer instead of a query every 100 ms. At most `max` requests wait at once per
 * replica; the caller asks for a slot before it does anything, so a refused request changes nothing.
 */
export class AttemptWaits {
  private readonly wakers = new Map<string, Set<() => void>>();
  private readonly listener: PgListener;
  private waiting = 0;

  constructor(
    private readonly db: Db,
    logger: Logger,
    private readonly max: number,
  ) {
    this.listener = new PgListener({
      db,
      channel: CHANNEL,
      logger,
      purpose: 'attempt',
      onNotify: (attemptId) => {
        for (const wake of this.wakers.get(attemptId) ?? []) wake();
      },
      // Every waiter re-reads its row, which listens anew.
      onLost: () => this.wakeAll(),
    });
  }

  /** A slot to wait in, or undefined when `max` requests already wait; release it when done. */
  reserve(): (() => void) | undefined {
    if (this.waiting >= this.max) return undefined;
    this.waiting++;
    return () => {
      this.waiting--;
    };
  }

  /** The attempt once it is no longer pending, or as it is when `seconds` have passed. */
  async untilSettled(attemptId: string, seconds: number): Promise<SessionRow | undefined> {
    const deadline = Date.now() + seconds * 1000;
    for (;;) {
      // Registered, and listening, before the row is read: a settle after the read wakes us.
      const woken = this.wakeOn(attemptId);
      try {
        await this.listener.ensure();
        const row = await getSession(this.db, attemptId);
        const left = deadline - Date.now();
        if (row?.status !== 'pending' || left <= 0) return row;
        await woken.within(left);
      } finally {
        woken.cancel();
      }
    }
  }

  stop(): Promise<void> {
    return this.listener.stop();
  }

  private wakeOn(attemptId: string) {
    let wake!: () => void;
    const signal = new Promise<void>((resolve) => (wake = resolve));
    const set = this.wakers.get(attemptId) ?? new Set();
    set.add(wake);
    this.wakers.set(attemptId, set);
    let timer: NodeJS.Timeout | undefined;
    return {
      within: (ms: number) =>
        Promise.race([signal, new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)))]),
      cancel: () => {
        clearTimeout(timer);
        set.delete(wake);
        if (set.size === 0 && this.wakers.get(attemptId) === set) this.wakers.delete(attemptId);
      },
    };
  }

  private wakeAll(): void {
    for (const set of this.wakers.values()) for (const wake of set) wake();
  }
}
