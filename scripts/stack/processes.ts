import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync } from 'node:fs';
import path from 'node:path';
import { step } from './progress.ts';
import { waitFor } from './run.ts';

export interface ServerProcess {
  child: ChildProcess;
  stop: () => Promise<void>;
}

/**
 * Starts a server executable with its output appended to logFile and waits until `ready`; fails
 * at once, pointing at the log, if it exits first.
 */
export async function startServerProcess(
  what: string,
  command: string,
  args: string[],
  logFile: string,
  ready: () => Promise<boolean>,
  timeoutMs = 60_000,
): Promise<ServerProcess> {
  mkdirSync(path.dirname(logFile), { recursive: true });
  const log = openSync(logFile, 'a');
  const child = spawn(command, args, { stdio: ['ignore', log, log] });
  let exited = false;
  const exitedFirst = new Promise<never>((_, reject) =>
    child.once('exit', (code, signal) => {
      exited = true;
      reject(new Error(`${what} exited (${signal ?? `code ${code}`}); see ${logFile}`));
    }),
  );
  exitedFirst.catch(() => undefined);
  const stop = () =>
    new Promise<void>((resolve) => {
      if (exited) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGTERM');
    });
  try {
    // Polling ends as soon as the process is gone, so the race below reports that at once.
    await Promise.race([waitFor(what, async () => exited || ready(), timeoutMs), exitedFirst]);
  } catch (err) {
    await stop();
    throw err;
  }
  return { child, stop };
}

/**
 * Runs the service's processes and restarts one that dies on its own, so killing the API or the
 * worker during development is survivable. stop() ends them all and waits.
 */
export class Supervisor {
  private readonly children = new Map<string, ChildProcess>();
  /** Killed on purpose and to stay down. */
  private readonly held = new Set<string>();
  private stopping = false;

  constructor(private readonly root: string) {}

  start(name: string, script: string, env: NodeJS.ProcessEnv): void {
    const child = spawn(process.execPath, ['--import', 'tsx', script], {
      cwd: this.root,
      env,
      stdio: ['ignore', 'inherit', 'inherit'],
    });
    this.children.set(name, child);
    child.on('exit', (code, signal) => {
      if (this.stopping || this.held.has(name)) return;
      step(`${name} exited (${signal ?? `code ${code}`}); restarting it in 2s`);
      setTimeout(() => {
        if (!this.stopping) this.start(name, script, env);
      }, 2_000).unref();
    });
  }

  /** The pid of the process running under this name now (a restart gives it a new one). */
  pid(name: string): number | undefined {
    return this.children.get(name)?.pid;
  }

  /**
   * Sends a signal to one process. With `restart: false` it stays down, as a crashed replica does
   * when nothing replaces it, so a test can show the others carry on alone.
   */
  kill(name: string, signal: NodeJS.Signals, { restart = true } = {}): void {
    if (!restart) this.held.add(name);
    this.children.get(name)?.kill(signal);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.children.values()].map(
        (child) =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            child.once('exit', () => resolve());
            child.kill('SIGTERM');
            setTimeout(() => child.kill('SIGKILL'), 15_000).unref();
          }),
      ),
    );
  }
}
