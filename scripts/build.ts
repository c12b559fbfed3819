import { cpSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { bundleGrantWorkflows, WORKFLOW_BUNDLE_FILE } from '../workers/worker.ts';
import { elapsed, step } from './stack/progress.ts';
import { run } from './stack/run.ts';

const usage = `Usage: npm run build [-- --out-dir DIR]

Compiles the service to dist/ (or DIR) with tsconfig.build.json, copies what the compiled code
loads by path (the CommonJS converters, the SQL migrations) and writes the workflow bundle to
dist/${WORKFLOW_BUNDLE_FILE}. dist/ then runs with plain node and production dependencies only:
node dist/api/main.js, node dist/workers/main.js, node dist/db/cli.js.
`;

const root = path.resolve(import.meta.dirname, '..');

async function main(): Promise<void> {
  let values: { 'out-dir'?: string; help?: boolean };
  try {
    ({ values } = parseArgs({
      options: { 'out-dir': { type: 'string' }, help: { type: 'boolean' } },
      strict: true,
    }));
  } catch (err) {
    process.stderr.write(`${(err as Error).message}\n\n${usage}`);
    process.exit(2);
  }
  if (values.help) {
    process.stdout.write(usage);
    return;
  }
  const dist = path.resolve(values['out-dir'] ?? path.join(root, 'dist'));
  const started = Date.now();
  rmSync(dist, { recursive: true, force: true });

  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const tscArgs = [tsc, '-p', path.join(root, 'tsconfig.build.json'), '--outDir', dist];
  const compiled = await run(process.execPath, tscArgs, { cwd: root });
  if (compiled.code !== 0) throw new Error(`tsc failed:\n${compiled.stdout}${compiled.stderr}`);
  step(`compiled to ${dist} in ${elapsed(started)}`);

  // The SDK loads the converters by path with require(), and node-pg-migrate reads the migrations
  // directory beside db/migrate: tsc emits neither.
  for (const file of readdirSync(path.join(root, 'lib')).filter((f) => f.endsWith('.cjs')))
    cpSync(path.join(root, 'lib', file), path.join(dist, 'lib', file));
  cpSync(path.join(root, 'db', 'migrations'), path.join(dist, 'db', 'migrations'), { recursive: true });

  const bundling = Date.now();
  const { code } = await bundleGrantWorkflows();
  writeFileSync(path.join(dist, WORKFLOW_BUNDLE_FILE), code);
  step(`workflow bundle written to ${path.join(dist, WORKFLOW_BUNDLE_FILE)} in ${elapsed(bundling)}`);
}

main().catch((err: unknown) => {
  process.stderr.write(`build: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
