/** What happened in a simulation, in server time: the model's calls, the driver's steps, faults. */
export interface SimEvent {
  at: number;
  openId?: string;
  what: string;
}

/** A property of the service that did not hold, found by the model or by a check. */
export interface Violation {
  at: number;
  openId?: string;
  invariant: string;
  detail: string;
}

const DAY_MS = 24 * 3600_000;

/** Server time as "day 12.345" from the simulation's start, which reads better than a date a year out. */
export function simDay(at: number, origin: number): string {
  return `day ${((at - origin) / DAY_MS).toFixed(3)}`;
}

export class SimLog {
  readonly events: SimEvent[] = [];
  readonly violations: Violation[] = [];
  private readonly reported = new Set<string>();

  constructor(readonly origin: number) {}

  record(at: number, openId: string | undefined, what: string): void {
    this.events.push({ at, openId, what });
  }

  /** Records a violation; one with the `once` key of an earlier one is the same finding seen again. */
  violation(at: number, openId: string | undefined, invariant: string, detail: string, once?: string): void {
    if (once !== undefined) {
      if (this.reported.has(once)) return;
      this.reported.add(once);
    }
    this.violations.push({ at, openId, invariant, detail });
    this.record(at, openId, `VIOLATION ${invariant}: ${detail}`);
  }

  /** The events of one user (or all), oldest first, one a line. */
  format(openId?: string, last = Infinity): string {
    const events = this.events.filter((e) => openId === undefined || e.openId === openId);
    return events
      .slice(-last)
      .map((e) => `${simDay(e.at, this.origin)} ${e.openId ?? '*'} ${e.what}`)
      .join('\n');
  }

  formatViolations(): string {
    return this.violations
      .map((v) => `${simDay(v.at, this.origin)} ${v.openId ?? '*'} ${v.invariant}: ${v.detail}`)
      .join('\n');
  }
}
