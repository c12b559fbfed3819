import { spawn, type ChildProcess } from 'node:child_process';
import { step } from './progress';

/**
 * Runs the service's processes and restarts one that dies on its own, so killing the API or the
 * worker during development is survivable. stop() ends them all and waits.
 */
export class Supervisor {
  private readonly children = new Map<string, ChildProcess>();
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
      if (this.stopping) return;
      step(`${name} exited (${signal ?? `code ${code}`}); restarting it in 2s`);
      setTimeout(() => {
        if (!this.stopping) this.start(name, script, env);
      }, 2_000).unref();
    });
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
