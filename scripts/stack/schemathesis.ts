import { existsSync, rmSync } from 'node:fs';
import path from 'node:path';
import { elapsed, step } from './progress.ts';
import { run } from './run.ts';
import { cacheDir } from './temporal-cli.ts';

/** The one place the fuzzer's version is pinned: a new version may generate, and so find, other things. */
export const SCHEMATHESIS_VERSION = '4.32.5';

/** Interpreters to build the virtualenv with, best first: schemathesis needs Python >= 3.9. */
const PYTHONS = ['python3.11', 'python3.12', 'python3.13', 'python3'];

async function fits(st: string): Promise<boolean> {
  const { code, stdout } = await run(st, ['--version']);
  return code === 0 && stdout.includes(SCHEMATHESIS_VERSION);
}

async function findPython(): Promise<string> {
  for (const python of PYTHONS) {
    const { code } = await run(python, ['-c', 'import sys, venv; sys.exit(sys.version_info < (3, 9))']);
    if (code === 0) return python;
  }
  throw new Error(`schemathesis needs Python >= 3.9 with venv; none of ${PYTHONS.join(', ')} fits`);
}

/**
 * The `st` executable of schemathesis SCHEMATHESIS_VERSION, from a virtualenv of its own in our
 * cache; installed from PyPI the first time (a few seconds, about 30 MB).
 */
export async function findOrInstallSchemathesis(): Promise<string> {
  const venv = path.join(cacheDir(), `schemathesis-${SCHEMATHESIS_VERSION}`);
  const st = path.join(venv, 'bin', 'st');
  if (existsSync(st) && (await fits(st))) return st;
  const started = Date.now();
  const python = await findPython();
  step(`installing schemathesis ${SCHEMATHESIS_VERSION} from PyPI into ${venv} (${python})`);
  // A half-built virtualenv from an interrupted install would otherwise be found and fail.
  rmSync(venv, { recursive: true, force: true });
  const created = await run(python, ['-m', 'venv', venv]);
  if (created.code !== 0) throw new Error(`${python} -m venv ${venv} failed:\n${created.stderr}`);
  const pip = path.join(venv, 'bin', 'pip');
  const installed = await run(pip, [
    'install',
    '--quiet',
    '--disable-pip-version-check',
    `schemathesis==${SCHEMATHESIS_VERSION}`,
  ]);
  if (installed.code !== 0 || !(await fits(st))) {
    rmSync(venv, { recursive: true, force: true });
    throw new Error(`installing schemathesis ${SCHEMATHESIS_VERSION} failed:\n${installed.stderr}`);
  }
  step(`installed schemathesis ${SCHEMATHESIS_VERSION} in ${elapsed(started)}`);
  return st;
}
