import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';

/** Small helpers every benchmark shares: CLI flags, percentiles, rates and output. */

/** Every flag of the benchmarks; `npm run bench` hands each to the benchmark that reads it. */
const BENCH_FLAGS = {
  users: { type: 'string' },
  concurrency: { type: 'string' },
  rate: { type: 'string' },
  seconds: { type: 'string' },
  warmup: { type: 'string' },
  grants: { type: 'string' },
  due: { type: 'string' },
  hold: { type: 'string' },
  'worker-heap-mb': { type: 'string' },
  'open-users': { type: 'string' },
  wake: { type: 'string' },
  replays: { type: 'string' },
  rounds: { type: 'string' },
  only: { type: 'string' },
  role: { type: 'string' },
  cluster: { type: 'boolean' },
  profile: { type: 'boolean' },
} as const;

export type Flags = Partial<Record<keyof typeof BENCH_FLAGS, string | boolean>>;

/** `--users 500 --concurrency=50 --cluster`; an unknown flag or a missing value is an error. */
export function parseFlags(argv: string[] = process.argv.slice(2)): Flags {
  return parseArgs({ args: argv, options: BENCH_FLAGS, strict: true, allowPositionals: false }).values;
}

export function numberFlag(flags: Flags, name: keyof Flags, fallback: number): number {
  const raw = flags[name];
  if (typeof raw !== 'string') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${name} must be a non-negative number`);
  return value;
}

/** Nearest-rank percentile of unsorted samples (ms); NaN when there are none. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export interface Summary {
  count: number;
  p50: number;
  p99: number;
  max: number;
  mean: number;
}

export function summarize(samples: readonly number[]): Summary {
  const sum = samples.reduce((a, b) => a + b, 0);
  return {
    count: samples.length,
    p50: round(percentile(samples, 50)),
    p99: round(percentile(samples, 99)),
    max: round(samples.length ? Math.max(...samples) : NaN),
    mean: round(samples.length ? sum / samples.length : NaN),
  };
}

/** The most events inside any window of `windowMs` (a sliding window over sorted timestamps). */
export function peakInWindow(timestamps: readonly number[], windowMs: number): number {
  const sorted = [...timestamps].sort((a, b) => a - b);
  let peak = 0;
  let start = 0;
  for (let end = 0; end < sorted.length; end++) {
    while (sorted[end]! - sorted[start]! >= windowMs) start++;
    peak = Math.max(peak, end - start + 1);
  }
  return peak;
}

export function round(value: number, digits = 1): number {
  if (!Number.isFinite(value)) return value;
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

export const mb = (kb: number): number => round(kb / 1024, 0);

/** Prints `rows` as an aligned two-column table under a title. */
export function printTable(title: string, rows: [string, string | number][]): void {
  const width = Math.max(...rows.map(([k]) => k.length));
  const lines = [`\n${title}`, '-'.repeat(title.length)];
  for (const [key, value] of rows) lines.push(`${key.padEnd(width)}  ${value}`);
  process.stdout.write(lines.join('\n') + '\n');
}

/** The machine-readable line the notes quote: one JSON object, prefixed so it is easy to grep. */
/** Runs a bench as its npm command: exits 0 when it is over, 1 with the stack when it failed. */
export function runBenchCommand(name: string, bench: () => Promise<unknown>): void {
  bench().then(
    () => process.exit(0),
    (err: unknown) => {
      process.stderr.write(`bench:${name} failed: ${(err as Error).stack ?? String(err)}\n`);
      process.exit(1);
    },
  );
}

export function printJson(name: string, result: object): void {
  process.stdout.write(
    `BENCH_RESULT ${JSON.stringify({ bench: name, at: new Date().toISOString(), ...result })}\n`,
  );
}

export function log(message: string): void {
  process.stderr.write(`[bench] ${message}\n`);
}

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** Runs `task(i)` for i in [0, total) with at most `concurrency` in flight (a closed loop). */
export async function runPool(
  total: number,
  concurrency: number,
  task: (i: number) => Promise<void>,
): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(concurrency, total) }, async () => {
    for (;;) {
      const i = next++;
      if (i >= total) return;
      await task(i);
    }
  });
  await Promise.all(workers);
}

/** How many of `total` arrivals at a fixed `ratePerSecond` are due `elapsedMs` after the first (which is due at 0). */
export function arrivalsDue(elapsedMs: number, ratePerSecond: number, total: number): number {
  if (elapsedMs < 0) return 0;
  return Math.min(total, Math.floor((elapsedMs * ratePerSecond) / 1000) + 1);
}

/**
 * An open loop: `task(i, dueAt)` starts at its scheduled instant whether or not earlier ones have
 * finished, so a slow service meets a queue instead of a politely waiting client. Latency should
 * be measured from `dueAt` (performance.now() time), so a late start counts against the service,
 * not against nobody.
 */
export async function runOpenLoop(
  total: number,
  ratePerSecond: number,
  task: (i: number, dueAt: number) => Promise<void>,
): Promise<void> {
  if (ratePerSecond <= 0) throw new Error('an open loop needs a rate above 0');
  const started = performance.now();
  const running: Promise<void>[] = [];
  while (running.length < total) {
    const due = arrivalsDue(performance.now() - started, ratePerSecond, total);
    for (let i = running.length; i < due; i++) running.push(task(i, started + (i * 1000) / ratePerSecond));
    if (running.length < total) {
      const nextAt = started + (running.length * 1000) / ratePerSecond;
      await sleep(Math.max(0, nextAt - performance.now()));
    }
  }
  await Promise.all(running);
}
