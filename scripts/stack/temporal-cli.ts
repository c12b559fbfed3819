import { spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { elapsed, step } from './progress.ts';
import { run } from './run.ts';

/** The last CLI tag that `go install`s (later ones carry a replace directive); it embeds Temporal server 1.29. */
const CLI_MODULE = 'github.com/temporalio/cli/cmd/temporal@v1.5.1';
const FITTING_SERVER = /Server 1\.(29|[3-9]\d)\./;

export function cacheDir(): string {
  return path.join(process.env.XDG_CACHE_HOME ?? path.join(os.homedir(), '.cache'), 'feishu-user-auth');
}

async function fits(executable: string): Promise<boolean> {
  const { code, stdout } = await run(executable, ['--version']);
  return code === 0 && FITTING_SERVER.test(stdout);
}

/**
 * Finds a Temporal CLI whose embedded server supports update-with-start: TEMPORAL_CLI, then
 * `temporal` on PATH, then our cache; builds it from the Go module proxy as a last resort.
 */
export async function findOrBuildTemporalCli(): Promise<string> {
  const explicit = process.env.TEMPORAL_CLI;
  if (explicit) {
    if (await fits(explicit)) return explicit;
    throw new Error(`TEMPORAL_CLI=${explicit} is not a Temporal CLI embedding server >= 1.29`);
  }
  if (await fits('temporal')) return 'temporal';
  const binDir = path.join(cacheDir(), 'bin');
  const cached = path.join(binDir, 'temporal');
  if (existsSync(cached) && (await fits(cached))) return cached;
  await goInstall('the Temporal CLI', [CLI_MODULE], binDir);
  return cached;
}

/**
 * Builds Go commands (`module/cmd@version`, several only from one module at one version) into
 * binDir, printing progress: a first build downloads several hundred MB and takes minutes.
 */
export function goInstall(what: string, packages: string[], binDir: string): Promise<void> {
  mkdirSync(binDir, { recursive: true });
  const started = Date.now();
  step(
    `building ${what} (${packages.join(' ')}) into ${binDir}; the first build downloads several hundred MB`,
  );
  return new Promise((resolve, reject) => {
    const child = spawn('go', ['install', '-x', ...packages], {
      env: { ...process.env, GOBIN: binDir, GOFLAGS: '-mod=mod' },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let downloads = 0;
    let compiles = 0;
    let tail = '';
    const report = setInterval(
      () =>
        step(
          `  still building: ${downloads} modules downloaded, ${compiles} packages compiled, ${elapsed(started)}`,
        ),
      10_000,
    );
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      downloads += chunk.match(/go: downloading /g)?.length ?? 0;
      compiles += chunk.match(/\/compile /g)?.length ?? 0;
      tail = (tail + chunk).slice(-4000);
    });
    child.on('error', (err) => {
      clearInterval(report);
      reject(new Error(`cannot run go to build ${what}: ${err.message}`));
    });
    child.on('exit', (code) => {
      clearInterval(report);
      if (code === 0) {
        step(`built ${what} in ${elapsed(started)}`);
        resolve();
      } else {
        reject(new Error(`go install ${packages.join(' ')} failed (exit ${code}):\n${tail}`));
      }
    });
  });
}
