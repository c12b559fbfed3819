/**
 * Runs a process entry point. A start-up failure (bad configuration, unreachable database or
 * Temporal) prints one line naming the cause and exits 1, instead of a stack trace.
 */
export function runMain(name: string, main: () => Promise<void>): void {
  main().catch((err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    process.stderr.write(`${name}: ${message.split('\n')[0]}\n`);
    process.exit(1);
  });
}
