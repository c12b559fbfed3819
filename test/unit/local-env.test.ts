import { chmodSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { loadConfig } from '../../lib/config.ts';
import { loadLocalEnv } from '../../scripts/stack/local-env.ts';

const saved = { ...process.env };
afterEach(() => {
  // loadLocalEnv fills process.env with what it generated.
  for (const name of Object.keys(process.env)) if (!(name in saved)) delete process.env[name];
});

const mode = (file: string) => statSync(file).mode & 0o777;

describe('.data/local.env', () => {
  it('is readable by its owner only, even when it existed before with a wider mode', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'local-env-'));
    const file = path.join(root, '.data', 'local.env');
    loadLocalEnv(root);
    expect(mode(file)).toBe(0o600);

    chmodSync(file, 0o644);
    loadLocalEnv(root);
    expect(mode(file)).toBe(0o600);

    // An older file lacking an entry gets it appended, and its mode fixed too.
    writeFileSync(file, readFileSync(file, 'utf8').replace(/^SANDBOX_APP_ID=.*\n/m, ''), { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(loadLocalEnv(root).SANDBOX_APP_ID).toMatch(/^cli_/);
    expect(mode(file)).toBe(0o600);
  });

  it('holds development secrets that pass validation, and that production refuses', () => {
    const root = mkdtempSync(path.join(tmpdir(), 'local-env-'));
    mkdirSync(path.join(root, '.data'));
    const generated = loadLocalEnv(root);
    const env = { ...generated, DATABASE_URL: 'postgres://u:p@localhost/db' };
    expect(loadConfig(env).API_KEYS.map((k) => k.name)).toEqual(['dev', 'ui']);
    expect(() => loadConfig({ ...env, NODE_ENV: 'production' })).toThrow(
      /TOKEN_ENCRYPTION_KEYS: holds a development key.*PAYLOAD_CODEC_KEYS: holds a development key.*API_KEYS: holds a development key/,
    );
  });
});
