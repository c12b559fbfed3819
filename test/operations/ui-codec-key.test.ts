import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { expect, it } from 'vitest';
import { freePort } from '../../scripts/stack/free-port.ts';
import { findOrBuildTemporalCli } from '../../scripts/stack/temporal-cli.ts';
import { ensureDevServer } from '../../scripts/stack/temporal-server.ts';
import { eventually } from '../helpers/cards.ts';

/** Issue 10 §3: `npm start` put the Web UI's codec key on the `temporal` command line, which `ps` shows every user. */
it("gives the dev server's Web UI its codec endpoint in a file only its owner reads, not on the command line", async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'ui-codec-'));
  const secret = randomBytes(24).toString('hex');
  const endpoint = `http://127.0.0.1:3000/codec/${secret}`;
  const uiPort = await freePort();
  const server = await ensureDevServer({
    cli: await findOrBuildTemporalCli(),
    port: await freePort(),
    uiPort,
    logFile: path.join(dir, 'temporal.log'),
    namespace: 'default',
    codecEndpoint: endpoint,
  });
  try {
    const commandLine = readFileSync(`/proc/${server.child!.pid}/cmdline`, 'utf8').split('\0');
    expect(commandLine[0]).toBe(await findOrBuildTemporalCli());
    expect(commandLine.join(' ')).not.toContain(secret);
    expect(statSync(path.join(dir, 'ui-codec-env.yaml')).mode & 0o777).toBe(0o600);
    // And the UI does use it.
    const settings = await eventually('the Web UI to answer its settings', async () => {
      const res = await fetch(`http://127.0.0.1:${uiPort}/api/v1/settings`).catch(() => undefined);
      return res?.ok ? ((await res.json()) as { Codec?: { Endpoint?: string } }) : undefined;
    });
    expect(settings.Codec?.Endpoint).toBe(endpoint);
  } finally {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}, 120_000);
