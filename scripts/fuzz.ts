import path from 'node:path';
import { parseArgs } from 'node:util';
import { provisionInfra, root } from '../bench/provision.ts';
import { fuzzApi, startFuzzStack, type FuzzReport } from '../test/helpers/fuzz.ts';
import { freePort } from './stack/free-port.ts';
import { elapsed, step } from './stack/progress.ts';

/**
 * Random cases per operation and role. Schemathesis' coverage phase sends ~2,000 requests over the
 * four roles whatever this is, and each example more about 80, so 120 comes to over 10,000.
 */
const DEFAULT_EXAMPLES = 120;

function print(report: FuzzReport): void {
  const lines = [
    `requests: ${report.requests}`,
    'by status:',
    ...Object.entries(report.byStatus).map(([status, n]) => `  ${status}: ${n}`),
    'by check (passed / failed):',
    ...Object.entries(report.byCheck).map(([check, c]) => `  ${check}: ${c.passed} / ${c.failed}`),
    `5xx: ${report.serverErrors}`,
    `schemathesis failures: ${report.failures.length}`,
    `state changes by refused requests: ${report.stateChanges.length}`,
    `requests after which work was still in flight past the witness's wait: ${report.settleLimits.length}`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
  for (const failure of report.failures) process.stdout.write(`\n${failure}\n`);
  for (const change of report.stateChanges) process.stdout.write(`${change}\n`);
  for (const limit of report.settleLimits) process.stdout.write(`${limit}\n`);
}

/**
 * `npm run fuzz [-- --examples N --seed S]`: schemathesis against a live stack (a database and a
 * Temporal dev server of its own, the sandbox as Feishu), with each role's key. Exits non-zero on
 * any 5xx, failed check or state change by a refused request.
 */
async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { examples: { type: 'string' }, seed: { type: 'string' }, verbose: { type: 'boolean' } },
  });
  const started = Date.now();
  let changesShown = 0;
  const dataDir = path.join(root, '.data', 'fuzz');
  const infra = await provisionInfra({
    database: 'feishu_user_auth_fuzz',
    temporalPort: await freePort(),
    logDir: dataDir,
  });
  try {
    const fuzz = await startFuzzStack({ infra });
    try {
      step(`fuzzing ${fuzz.stack.apiUrl} with each role's key`);
      const report = await fuzzApi(fuzz, {
        maxExamples: Number(values.examples ?? DEFAULT_EXAMPLES),
        reportDir: dataDir,
        seed: values.seed === undefined ? undefined : Number(values.seed),
        output: values.verbose ? (chunk) => process.stderr.write(chunk) : undefined,
        onProgress: ({ requests, byStatus, stateChanges }) => {
          const counts = Object.entries(byStatus).map(([status, n]) => `${status}: ${n}`);
          step(`${elapsed(started)}: ${requests} requests (${counts.join(', ')})`);
          for (const change of stateChanges.slice(changesShown)) step(`state change: ${change}`);
          changesShown = stateChanges.length;
        },
      });
      step(`fuzzed in ${elapsed(started)}`);
      print(report);
      const clean =
        report.serverErrors === 0 && report.failures.length === 0 && report.stateChanges.length === 0;
      process.exitCode = clean ? 0 : 1;
    } finally {
      await fuzz.close();
    }
  } finally {
    await infra.stop();
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`npm run fuzz: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exit(1);
});
