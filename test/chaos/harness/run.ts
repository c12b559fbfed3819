import { log, printJson } from '../../../bench/stats.ts';
import { Prng } from '../../sim/random/prng.ts';
import { checkRun, type ChaosReport } from './checks.ts';
import { runFeishuFaults, type FaultCounts } from './feishu-faults.ts';
import { runMonkey } from './monkey.ts';
import { readTokens } from './readers.ts';
import { ChaosStack, chaosOpenId } from './stack.ts';
import { SimulatedUser, type Flow } from './users.ts';

export interface ChaosOptions {
  seed: number;
  /** Simulated users, each running one flow after another. */
  users: number;
  /** How long users start flows and things are killed (ms); the run then settles. */
  durationMs: number;
  /** Concurrent token readers. */
  readers: number;
  workerEveryMs: number;
  apiEveryMs: number;
  temporalRestarts: number;
  postgresRestarts: number;
}

export const CHAOS_DEFAULTS: ChaosOptions = {
  seed: 1,
  users: 40,
  durationMs: 15 * 60_000,
  readers: 4,
  workerEveryMs: 10_000,
  apiEveryMs: 30_000,
  temporalRestarts: 2,
  postgresRestarts: 1,
};

export interface ChaosResult {
  options: ChaosOptions;
  report: ChaosReport;
  faults: FaultCounts;
  wallMs: number;
}

/** The zero-counts the run exists to show, by name (what `npm test` asserts and the CLI exits on). */
export function violations(report: ChaosReport): Record<string, number> {
  return {
    lostFlows: report.flows.lost.length,
    duplicateCards: report.duplicateCards.length + report.usersWithTwoLiveCards.length,
    refreshTokensUsedTwice: report.refreshes.tokensUsedTwice,
    burntTokensNotReauthorized:
      report.refreshes.burnt.filter(
        (b) => b.ended !== 'needs_reauth with a re-authorize card' && b.ended !== 'revoked first',
      ).length + report.refreshes.silentNeedsReauth.length,
    workflowsFailedOrStuck: report.workflows.failed.length + report.workflows.stuck.length,
    tokenApi5xxOtherThan503: report.tokenApi.unexpected5xx,
    plaintextSecrets: report.plaintextSecrets.length,
  };
}

/**
 * One chaos run: the stack up, users and token readers acting while processes are killed and
 * Feishu misbehaves, then everything back up and quiet while the last flows finish, then the checks.
 */
export async function runChaos(options: ChaosOptions): Promise<ChaosResult> {
  const started = Date.now();
  const rng = new Prng(options.seed);
  log(`chaos: seed ${options.seed}, ${options.users} users, ${options.durationMs / 1000} s`);
  const stack = await ChaosStack.start(options.users + 1, () => rng.next());
  try {
    const start = Date.now();
    const end = start + options.durationMs;
    const flows: Flow[] = [];
    const secretsSeen = new Set<string>();
    // The last seeded user is nobody's: it is the wrong account people sign in with.
    const stranger = chaosOpenId(options.users);
    const patienceMs = Math.max(300_000, options.durationMs / 3);
    const users = Array.from(
      { length: options.users },
      (_, i) =>
        new SimulatedUser(
          chaosOpenId(i),
          stranger,
          stack,
          new Prng(options.seed * 1_000 + i),
          flows,
          secretsSeen,
          {
            until: end,
            patienceMs,
            authorizedHoldMs: Math.min(240_000, options.durationMs / 3),
          },
        ),
    );
    const running = users.map((u) => u.run());
    let usersDone = false;
    const reading = readTokens(stack, users, new Prng(options.seed + 7), options.readers, () => usersDone);
    const monkey = runMonkey(stack, new Prng(options.seed + 11), {
      start,
      end,
      workerEveryMs: options.workerEveryMs,
      apiEveryMs: options.apiEveryMs,
      temporalRestarts: options.temporalRestarts,
      postgresRestarts: options.postgresRestarts,
    });
    const faults = runFeishuFaults(stack, new Prng(options.seed + 13), end);
    const kills = await monkey;
    const faultCounts = await faults;
    log(`chaos: ${kills.length} kills done; everything back up, waiting for the last flows`);
    await stack.ready();
    await Promise.all(running);
    usersDone = true;
    const reads = await reading;
    log(`chaos: ${flows.length} flows done; checking`);
    const report = await checkRun(stack, flows, kills, reads, secretsSeen);
    return { options, report, faults: faultCounts, wallMs: Date.now() - started };
  } finally {
    await stack.close();
  }
}

const fmt = (value: number | string) => String(value);

/** The table at the end of a run, and the BENCH_RESULT line for the bench history. */
export function printChaosResult({ options, report, faults, wallMs }: ChaosResult): void {
  const v = violations(report);
  const rows: [string, string, string][] = [
    ['flows', fmt(report.flows.total), '—'],
    ...Object.entries(report.flows.byOutcome)
      .sort()
      .map(([k, n]): [string, string, string] => [`  ${k}`, fmt(n), '—']),
    ['lost flows', fmt(v.lostFlows!), '0'],
    ['flows that finished only after the run', fmt(report.flows.late), '—'],
    ['duplicate cards (or two live cards)', fmt(v.duplicateCards!), '0'],
    ['refreshes (Feishu rotations)', fmt(report.refreshes.total), '—'],
    ['refresh tokens used twice', fmt(v.refreshTokensUsedTwice!), '0'],
    [
      'tokens burnt by a lost answer / a crash',
      `${report.refreshes.burnt.filter((b) => b.cause === 'lost answer').length} / ${report.refreshes.burnt.filter((b) => b.cause === 'crash').length}`,
      '—',
    ],
    ['  of them not ending needs_reauth + card', fmt(v.burntTokensNotReauthorized!), '0'],
    [
      'grants held ≥ 3 min / refreshed ≥ 3 times',
      `${report.grantsRefreshedAtLeast3.held3Minutes} / ${report.grantsRefreshedAtLeast3.refreshed3Times}`,
      'equal',
    ],
    [
      'workflows by status',
      Object.entries(report.workflows.byStatus)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
      '—',
    ],
    ['workflows failed or stuck', fmt(v.workflowsFailedOrStuck!), '0'],
    ['workflow task failures (in histories)', fmt(report.workflows.workflowTaskFailures), '—'],
    [
      'token reads',
      Object.entries(report.tokenApi.byAnswer)
        .map(([k, n]) => `${k}: ${n}`)
        .join(', '),
      '—',
    ],
    ['token API 5xx other than 503', fmt(v.tokenApi5xxOtherThan503!), '0'],
    ['token API 503 per kill', fmt(report.tokenApi.rate503PerKill), '—'],
    ['plaintext secrets (logs, db, history)', fmt(v.plaintextSecrets!), '0'],
    [
      'kills',
      Object.entries(report.kills)
        .map(([k, n]) => `${k} ${n}`)
        .join(', '),
      '—',
    ],
    ['recovery after a kill p50 / p99 (ms)', `${report.recoveryMs.p50} / ${report.recoveryMs.p99}`, '—'],
    ...Object.entries(report.recoveryMs.byTarget).map(([k, r]): [string, string, string] => [
      `  ${k}`,
      `${r.p50} / ${r.p99}`,
      '—',
    ]),
    [
      'Feishu faults: 429 bursts, latency spikes, connection drops',
      `${faults.rateLimitBursts}, ${faults.latencySpikes}, ${faults.connectionDrops}`,
      '—',
    ],
  ];
  const widths = [0, 1, 2].map((c) =>
    Math.max(...[['metric', 'result', 'target'], ...rows].map((r) => r[c]!.length)),
  );
  const line = (r: string[]) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ');
  const out = [
    '',
    `chaos (seed ${options.seed}, ${options.users} users, ${options.durationMs / 1000} s of chaos, ${Math.round(wallMs / 1000)} s in all)`,
    line(['metric', 'result', 'target']),
    widths.map((w) => '-'.repeat(w)).join('  '),
    ...rows.map(line),
  ];
  for (const flow of report.flows.lost)
    out.push(
      `LOST: ${flow.openId} ${flow.behavior} via ${flow.via}: ${flow.result} (${flow.notes.join('; ')})`,
    );
  for (const file of report.flows.lostHistories) out.push(`histories of a lost flow's user: ${file}`);
  for (const burnt of report.refreshes.burnt) {
    if (burnt.ended !== 'needs_reauth with a re-authorize card')
      out.push(
        `BURNT: ${burnt.openId} (${burnt.cause}, used ${new Date(burnt.usedAt).toISOString()}): ${burnt.ended}; ${burnt.story}`,
      );
  }
  for (const silent of report.refreshes.silentNeedsReauth) out.push(`SILENT needs_reauth: ${silent}`);
  for (const duplicate of report.duplicateCards)
    out.push(`DUPLICATE: attempt ${duplicate.attemptId} in ${duplicate.messages.join(', ')}`);
  for (const user of report.usersWithTwoLiveCards) out.push(`TWO LIVE CARDS: ${user}`);
  process.stdout.write(out.join('\n') + '\n');
  printJson('chaos', {
    options,
    violations: v,
    flows: report.flows.byOutcome,
    refreshes: report.refreshes.total,
    burnt: report.refreshes.burnt.length,
    tokenApi: report.tokenApi,
    kills: report.kills,
    recoveryMs: report.recoveryMs,
    faults,
    wallMs,
  });
}
