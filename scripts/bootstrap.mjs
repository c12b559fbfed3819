// Plain JavaScript on purpose: it runs before dependencies (and so tsx) are installed.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createHash } from 'node:crypto';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const stamp = path.join(root, 'node_modules', '.feishu-user-auth-lock-hash');
const lockHash = createHash('sha256')
  .update(readFileSync(path.join(root, 'package-lock.json')))
  .digest('hex');

if (!existsSync(stamp) || readFileSync(stamp, 'utf8') !== lockHash) {
  process.stderr.write('[setup] installing npm dependencies (npm ci); this takes a minute the first time\n');
  const started = Date.now();
  const install = spawnSync('npm', ['ci', '--no-audit', '--no-fund', '--loglevel=error'], {
    cwd: root,
    stdio: 'inherit',
  });
  if (install.status !== 0) process.exit(install.status ?? 1);
  spawnSync(process.execPath, [
    '-e',
    `require('fs').writeFileSync(${JSON.stringify(stamp)}, ${JSON.stringify(lockHash)})`,
  ]);
  process.stderr.write(`[setup] dependencies installed in ${((Date.now() - started) / 1000).toFixed(1)}s\n`);
}

const [script, ...args] = process.argv.slice(2);
const run = spawnSync(process.execPath, ['--import', 'tsx', path.join(root, script), ...args], {
  cwd: root,
  stdio: 'inherit',
});
process.exit(run.status ?? (run.signal ? 130 : 1));
