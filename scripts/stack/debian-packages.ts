import { spawn } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import path from 'node:path';
import { elapsed, step } from './progress.ts';

/** A command the tests run, and the Debian package that puts it on PATH. */
export interface Requirement {
  command: string;
  debianPackage: string;
}

/** What the browser test (Debian's Chromium) and the alert-rule checks (promtool) run. */
export const TEST_TOOLS: Requirement[] = [
  { command: 'chromium', debianPackage: 'chromium' },
  { command: 'promtool', debianPackage: 'prometheus' },
];

export function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

function onPath(command: string): boolean {
  return (process.env.PATH ?? '')
    .split(path.delimiter)
    .some((dir) => dir !== '' && isExecutable(path.join(dir, command)));
}

/**
 * Installs the Debian packages behind the commands missing from PATH, when this process may (root,
 * apt-get present). Otherwise throws at once naming the command to run, rather than letting the
 * tests that need them fail one by one later.
 */
export async function ensureDebianPackages(requirements: Requirement[]): Promise<void> {
  const missing = requirements.filter((r) => !onPath(r.command));
  if (missing.length === 0) return;
  const packages = [...new Set(missing.map((r) => r.debianPackage))];
  const commands = missing.map((r) => r.command).join(', ');
  if (!onPath('apt-get')) {
    throw new Error(
      `${commands} not on PATH and no apt-get here: install them (Debian packages: ${packages.join(' ')}) first`,
    );
  }
  if (process.getuid?.() !== 0) {
    throw new Error(`${commands} not on PATH: run \`sudo apt-get install ${packages.join(' ')}\` first`);
  }
  const started = Date.now();
  step(`${commands} not on PATH: installing Debian packages ${packages.join(' ')} (a minute or two)`);
  // Another run (or CI) may hold the dpkg lock: wait for it rather than fail.
  const lock = ['-o', 'DPkg::Lock::Timeout=600'];
  await apt('apt-get update', ['-qq', ...lock, 'update'], started);
  await apt(`apt-get install ${packages.join(' ')}`, ['-y', '-qq', ...lock, 'install', ...packages], started);
  const stillMissing = missing.filter((r) => !onPath(r.command)).map((r) => r.command);
  if (stillMissing.length > 0) {
    throw new Error(`installed ${packages.join(' ')}, yet still not on PATH: ${stillMissing.join(', ')}`);
  }
  step(`installed ${packages.join(' ')} in ${elapsed(started)}`);
}

function apt(label: string, args: string[], started: number): Promise<void> {
  step(`  ${label}…`);
  return new Promise((resolve, reject) => {
    const child = spawn('apt-get', args, {
      env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let tail = '';
    const keep = (chunk: Buffer) => (tail = (tail + chunk.toString('utf8')).slice(-4000));
    child.stdout.on('data', keep);
    child.stderr.on('data', keep);
    const report = setInterval(() => step(`  still in ${label}, ${elapsed(started)}`), 10_000);
    child.on('error', (err) => {
      clearInterval(report);
      reject(new Error(`cannot run apt-get: ${err.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(report);
      if (code === 0) resolve();
      else reject(new Error(`${label} failed (exit ${code}):\n${tail}`));
    });
  });
}
