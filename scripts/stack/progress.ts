/** Console output for the set-up scripts: one prefixed line per step, so long steps show they are alive. */
export function step(message: string): void {
  process.stderr.write(`[setup] ${message}\n`);
}

export function elapsed(since: number): string {
  return `${((Date.now() - since) / 1000).toFixed(1)}s`;
}
