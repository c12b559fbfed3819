import { AUTH_DEFAULTS, authOptions, runAuthBench } from './auth.ts';
import { GRANTS_DEFAULTS, grantsOptions, runGrantsBench } from './grants.ts';
import { PROXY_DEFAULTS, proxyOptions, runProxyBench } from './proxy.ts';
import { parseFlags, printJson } from './stats.ts';
import { replayOptions, runReplayBench } from './replay.ts';
import { TOKEN_DEFAULTS, runTokenBench, tokenOptions } from './token.ts';

/**
 * `npm run bench`: the five benchmarks one after another at moderate sizes, then one summary
 * table. Flags go to the benchmark they name (--users/--concurrency to auth, token and proxy,
 * --grants/--due/--rate/--hold to grants); --only auth,token limits the set.
 */
async function main(): Promise<void> {
  const flags = parseFlags();
  const only = typeof flags.only === 'string' ? new Set(flags.only.split(',')) : undefined;
  const wanted = (name: string) => !only || only.has(name);
  const rows: [string, string, string, string][] = [];
  // The one BENCH_RESULT line of this command carries every benchmark's full result.
  const results: Record<string, object> = {};

  if (wanted('auth')) {
    const auth = await runAuthBench(authOptions(flags, AUTH_DEFAULTS));
    results.auth = auth;
    rows.push(
      ['auth', 'flows/s', String(auth.flowsPerSecond), '≥ 50'],
      ['auth', 'ratio to the bare workflow', String(auth.ratioToBare), '≥ 0.9'],
      ['auth', 'redirect → page p99 (ms)', String(auth.redirectToPageMs.p99), '≤ 300'],
      ['auth', 'redirect → card p99 (ms)', String(auth.redirectToCardMs.p99), '—'],
      ['auth', 'peak RSS worker / API (MB)', `${auth.workerPeakRssMb} / ${auth.apiPeakRssMb}`, '—'],
      ['auth', 'failed flows', String(auth.failed), '0'],
    );
  }
  if (wanted('token')) {
    const token = await runTokenBench(tokenOptions(flags, TOKEN_DEFAULTS));
    results.token = token;
    rows.push(
      ['token', 'requests/s', String(token.requestsPerSecond), '≥ 3000'],
      ['token', 'ratio to the bare route', String(token.ratioToBare), '—'],
      ['token', 'latency p50 / p99 (ms)', `${token.latencyMs.p50} / ${token.latencyMs.p99}`, 'p99 ≤ 10'],
      ['token', 'errors', String(Object.values(token.errors).reduce((a, b) => a + b, 0)), '0'],
    );
  }
  if (wanted('grants')) {
    const grants = await runGrantsBench(grantsOptions(flags, GRANTS_DEFAULTS));
    results.grants = grants;
    rows.push(
      ['grants', `worker RSS, ${grants.grants} asleep (MB)`, String(grants.workerRssHoldMb), '≤ 1024'],
      ['grants', 'Temporal server RSS (MB)', String(grants.temporalRssHoldMb), '—'],
      ['grants', 'refresh throughput (/s)', String(grants.refreshesPerSecond), `≈ ${grants.rateLimit}`],
      ['grants', 'peak token-endpoint calls in 1 s', String(grants.peakPerSecond), '≤ 50'],
      ['grants', 'refreshed / due', `${grants.refreshed} / ${grants.due}`, 'all'],
    );
  }
  if (wanted('replay')) {
    const replay = await runReplayBench(replayOptions(flags));
    results.replay = replay;
    rows.push([
      'replay',
      'workflow CPU ms per authorized flow, ours / bare',
      `${replay.cpuMsPerReplay.ours} / ${replay.cpuMsPerReplay.bare} (ratio ${replay.ratioToBare})`,
      '—',
    ]);
  }
  if (wanted('proxy')) {
    const proxy = await runProxyBench(proxyOptions(flags, PROXY_DEFAULTS));
    rows.push(
      [
        'proxy',
        'requests/s direct / proxied',
        `${proxy.direct.requestsPerSecond} / ${proxy.proxied.requestsPerSecond}`,
        '—',
      ],
      [
        'proxy',
        'added latency p50 / p99 (ms)',
        `${proxy.addedLatencyMs.p50} / ${proxy.addedLatencyMs.p99}`,
        '—',
      ],
    );
  }

  const widths = [0, 1, 2, 3].map((c) =>
    Math.max(...[['bench', 'metric', 'result', 'target'], ...rows].map((r) => r[c]!.length)),
  );
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  const out = [
    '',
    'summary',
    line(['bench', 'metric', 'result', 'target']),
    widths.map((w) => '-'.repeat(w)).join('  '),
  ];
  for (const row of rows) out.push(line(row));
  process.stdout.write(out.join('\n') + '\n');
  printJson('all', {
    rows: rows.map(([bench, metric, result, target]) => ({ bench, metric, result, target })),
    sizes: { ...flags },
    results,
  });
}

main().then(
  () => process.exit(0),
  (err: unknown) => {
    process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
    process.exit(1);
  },
);
