import { parseArgs } from 'node:util';
import { CHAOS_DEFAULTS, printChaosResult, runChaos, violations } from '../test/chaos/harness/run.ts';

const USAGE = `npm run chaos -- [--users N] [--duration SECONDS] [--seed S] [--readers N]

Runs the whole stack as npm start does (a PostgreSQL cluster and a Temporal dev server of the run's
own, two workers, the API, the Feishu sandbox) for --duration seconds of chaos: N simulated users
act at random, token readers read all the time, a worker is SIGKILLed about every 10 s, the API
every 30 s, the Temporal server restarted twice and PostgreSQL once, while Feishu answers ~10 %
5xx, 429 bursts, latency spikes, dropped long connections and lost refresh answers. Then the last
flows finish and the run prints a table and a BENCH_RESULT line; exits 1 on any loss.`;

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      users: { type: 'string', default: String(CHAOS_DEFAULTS.users) },
      duration: { type: 'string', default: String(CHAOS_DEFAULTS.durationMs / 1000) },
      seed: { type: 'string', default: String(CHAOS_DEFAULTS.seed) },
      readers: { type: 'string', default: String(CHAOS_DEFAULTS.readers) },
      help: { type: 'boolean', default: false },
    },
  });
  if (values.help) {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  const number = (name: string, raw: string) => {
    const value = Number(raw);
    if (!Number.isInteger(value) || value < 1) throw new Error(`--${name} must be a positive integer`);
    return value;
  };
  const result = await runChaos({
    ...CHAOS_DEFAULTS,
    users: number('users', values.users),
    durationMs: number('duration', values.duration) * 1000,
    seed: number('seed', values.seed),
    readers: number('readers', values.readers),
  });
  printChaosResult(result);
  return Object.values(violations(result.report)).some((n) => n > 0) ? 1 : 0;
}

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`chaos failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
