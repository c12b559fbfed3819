import { spawn } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ensureDebianPackages, TEST_TOOLS } from './stack/debian-packages.ts';
import { elapsed, step } from './stack/progress.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const bin = (name: string) => path.join(root, 'node_modules', '.bin', name);

function run(label: string, cmd: string, args: string[]): Promise<void> {
  const started = Date.now();
  step(`${label}…`);
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: root, stdio: 'inherit' });
    child.on('exit', (code) => {
      if (code === 0) {
        step(`${label}: passed in ${elapsed(started)}`);
        resolve();
      } else {
        reject(new Error(`${label} failed (exit ${code})`));
      }
    });
  });
}

/**
 * `npm test`: typecheck, lint and formatting, then the whole suite (whose global set-up brings up
 * PostgreSQL and a Temporal dev server of its own). Arguments go to vitest, e.g. a file path.
 */
async function main(): Promise<void> {
  const vitestArgs = process.argv.slice(2);
  // The global set-up checks this too (for `npm run test:only`), but there a failure comes after
  // the lint steps and under vitest's stack trace; here it is the first and only line.
  await ensureDebianPackages(TEST_TOOLS);
  await run('typecheck', bin('tsc'), ['--noEmit', '-p', '.']);
  await run('lint', bin('eslint'), ['.']);
  await run('format check', bin('prettier'), ['--check', '.']);
  await run('tests', bin('vitest'), ['run', ...vitestArgs]);
}

main().catch((err: unknown) => {
  process.stderr.write(`npm test: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
