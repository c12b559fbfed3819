export interface Window {
  ms: number;
  max: number;
}

/** Sliding-window counters, keyed by whatever Feishu limits on (app, user, message). */
export class RateLimiter {
  private readonly hits = new Map<string, number[]>();

  constructor(private readonly enabled: boolean) {}

  /** Records a hit; returns the seconds until a slot frees up when over a limit, else undefined (and the hit is not counted). */
  hit(key: string, windows: Window[]): number | undefined {
    if (!this.enabled) return undefined;
    const now = Date.now();
    const longest = Math.max(...windows.map((w) => w.ms));
    const recent = (this.hits.get(key) ?? []).filter((t) => t > now - longest);
    for (const window of windows) {
      const inWindow = recent.filter((t) => t > now - window.ms);
      if (inWindow.length >= window.max) {
        this.hits.set(key, recent);
        return Math.max(1, Math.ceil((inWindow[0]! + window.ms - now) / 1000));
      }
    }
    recent.push(now);
    this.hits.set(key, recent);
    return undefined;
  }
}

export const PER_APP_API: Window[] = [
  { ms: 1000, max: 50 },
  { ms: 60_000, max: 1000 },
];
export const PER_USER_SEND: Window[] = [{ ms: 1000, max: 5 }];
export const PER_MESSAGE_UPDATE: Window[] = [{ ms: 1000, max: 5 }];
