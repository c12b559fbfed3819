import { randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config.ts';
import { newSigningSecret } from '../../lib/webhooks/signing.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const tokenKey = randomBytes(32).toString('base64');
const codecKey = randomBytes(32).toString('base64');
const apiSecret = () => randomBytes(24).toString('hex');
const valid = {
  DATABASE_URL: 'postgres://u:p@localhost/db',
  TOKEN_ENCRYPTION_KEYS: `k1:${tokenKey}`,
  PAYLOAD_CODEC_KEYS: `c1:${codecKey}`,
};
/** What production needs beyond `valid`: real Feishu hosts (the defaults) and a public https address. */
const production = { ...valid, NODE_ENV: 'production', PUBLIC_BASE_URL: 'https://auth.example.com' };

/** The variables of an env file, as `npm start` or compose's env_file would read them. */
function envFile(file: string): Record<string, string> {
  return Object.fromEntries(
    readFileSync(path.join(root, file), 'utf8')
      .split('\n')
      .filter((l) => /^[A-Z_]+=/.test(l))
      .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
  );
}

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(valid);
    expect(config.FEISHU_DOMAIN).toBe('https://open.feishu.cn');
    expect(config.FEISHU_CALLBACK_MODE).toBe('ws');
    expect(config.PUBLIC_BASE_URL).toBe('http://localhost:3000');
    expect(config.TOKEN_ENCRYPTION_KEYS[0]!.id).toBe('k1');
  });

  it('FEISHU_AUTH_FLOW=auto (the default) is the device flow until a public URL is configured', () => {
    expect(loadConfig(valid).FEISHU_AUTH_FLOW).toBe('device');
    expect(loadConfig({ ...valid, PUBLIC_BASE_URL: 'https://auth.example.com' }).FEISHU_AUTH_FLOW).toBe(
      'code',
    );
    expect(loadConfig({ ...valid, FEISHU_AUTH_FLOW: 'code' }).FEISHU_AUTH_FLOW).toBe('code');
    const publicUrl = { PUBLIC_BASE_URL: 'https://auth.example.com', FEISHU_AUTH_FLOW: 'device' };
    expect(loadConfig({ ...valid, ...publicUrl }).FEISHU_AUTH_FLOW).toBe('device');
    expect(() => loadConfig({ ...valid, FEISHU_AUTH_FLOW: 'implicit' })).toThrow(/FEISHU_AUTH_FLOW/);
  });

  it('names the variable and never echoes a secret', () => {
    const attempt = () => loadConfig({ ...valid, TOKEN_ENCRYPTION_KEYS: 'k1:c2VjcmV0LXRvby1zaG9ydA==' });
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(/TOKEN_ENCRYPTION_KEYS/);
    expect(attempt).not.toThrow(/c2VjcmV0/);
  });

  it('rejects a missing database URL, a bad Temporal address and a bad callback mode', () => {
    expect(() => loadConfig({ ...valid, DATABASE_URL: undefined })).toThrow(/DATABASE_URL: is required/);
    expect(() => loadConfig({ ...valid, TEMPORAL_ADDRESS: 'nope' })).toThrow(/TEMPORAL_ADDRESS/);
    expect(() => loadConfig({ ...valid, FEISHU_CALLBACK_MODE: 'smoke' })).toThrow(/FEISHU_CALLBACK_MODE/);
  });

  it('wants app id and secret together, and API keys with a role', () => {
    expect(() => loadConfig({ ...valid, FEISHU_APP_ID: 'cli_1' })).toThrow(/together/);
    expect(() => loadConfig({ ...valid, API_KEYS: `ops:superuser:${apiSecret()}` })).toThrow(/API_KEYS/);
    const roleOf = (role: string) =>
      loadConfig({ ...valid, API_KEYS: `k:${role}:${apiSecret()}` }).API_KEYS[0]!.role;
    for (const role of ['decode', 'read', 'request', 'proxy', 'token', 'admin'])
      expect(roleOf(role)).toBe(role);
    // The older role keeps what it could do: request authorizations and read status.
    expect(roleOf('status')).toBe('request');
  });

  it('reads PROXY_ALLOW for keys of API_KEYS only, naming a rule it cannot read', () => {
    const keys = `bot:proxy:${apiSecret()}`;
    const lists = loadConfig({
      ...valid,
      API_KEYS: keys,
      PROXY_ALLOW: '{"bot": ["GET /open-apis/task/v2", "/open-apis/authen/v1/user_info"]}',
    }).PROXY_ALLOW;
    expect(lists.get('bot')).toEqual([
      { methods: ['GET'], prefix: '/open-apis/task/v2' },
      { methods: ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'], prefix: '/open-apis/authen/v1/user_info' },
    ]);
    // A misspelt name would leave the key it meant unrestricted.
    expect(() => loadConfig({ ...valid, API_KEYS: keys, PROXY_ALLOW: '{"bto": []}' })).toThrow(
      /PROXY_ALLOW: names "bto"/,
    );
    expect(() => loadConfig({ ...valid, API_KEYS: keys, PROXY_ALLOW: '["GET /open-apis"]' })).toThrow(
      /PROXY_ALLOW: must be a JSON object/,
    );
    expect(() => loadConfig({ ...valid, API_KEYS: keys, PROXY_ALLOW: '{"bot": ["GET /v1/users"]}' })).toThrow(
      /PROXY_ALLOW: bot: "GET \/v1\/users" must be/,
    );
  });

  it('reads WEBHOOK_URLS as name=url secret [previous], never echoing a secret', () => {
    const [a, b] = [newSigningSecret(), newSigningSecret()];
    const urls = (value: string) => loadConfig({ ...valid, WEBHOOK_URLS: value }).WEBHOOK_URLS;
    expect(urls(`crm=https://crm.internal/hooks ${a} ${b}, billing=http://billing:8080/h ${b}`)).toEqual([
      { name: 'crm', url: 'https://crm.internal/hooks', secrets: [a, b] },
      { name: 'billing', url: 'http://billing:8080/h', secrets: [b] },
    ]);
    expect(urls('')).toEqual([]);
    const refusals = [
      `https://crm/hooks ${a}`,
      `crm=ftp://crm/hooks ${a}`,
      'crm=https://crm/hooks',
      `crm=https://crm/hooks ${a} ${b} ${a}`,
      'crm=https://crm/hooks whsec_c2hvcnQ=',
      `crm=https://crm/hooks ${a.slice(6)}`,
      `crm=https://a/h ${a},crm=https://b/h ${b}`,
    ];
    for (const value of refusals) {
      let message = '';
      try {
        urls(value);
      } catch (err) {
        message = (err as Error).message;
      }
      expect(message).toMatch(/^invalid configuration: WEBHOOK_URLS: entry \d/);
      expect(message).not.toContain(a.slice(6));
      expect(message).not.toContain(b.slice(6));
    }
  });

  it('refuses HTTP callback mode without the encrypt key and verification token', () => {
    expect(() => loadConfig({ ...valid, FEISHU_CALLBACK_MODE: 'http' })).toThrow(
      /FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN/,
    );
    expect(() => loadConfig({ ...valid, FEISHU_CALLBACK_MODE: 'http', FEISHU_ENCRYPT_KEY: 'k' })).toThrow(
      ConfigError,
    );
    const ok = loadConfig({
      ...valid,
      FEISHU_CALLBACK_MODE: 'http',
      FEISHU_ENCRYPT_KEY: 'k',
      FEISHU_VERIFICATION_TOKEN: 't',
    });
    expect(ok.FEISHU_CALLBACK_MODE).toBe('http');
  });

  describe('refuses placeholder and weak keys with one line naming the variable', () => {
    const refused = (env: Record<string, string>, variable: string) => {
      let message = '';
      try {
        loadConfig({ ...valid, ...env });
      } catch (err) {
        expect(err).toBeInstanceOf(ConfigError);
        message = (err as Error).message;
      }
      expect(message).toMatch(new RegExp(`^invalid configuration: ${variable}: [^\\n]+$`));
      for (const value of Object.values(env)) {
        for (const secret of value.split(/[,:]/).filter((part) => part.length >= 16)) {
          expect(message).not.toContain(secret);
        }
      }
    };

    it(".env.example's settings pass once its placeholder secrets are replaced", () => {
      const config = loadConfig({
        ...envFile('.env.example'),
        ...valid,
        API_KEYS: `ops:token:${apiSecret()}`,
      });
      expect(config.TEMPORAL_TLS).toBe(false);
      expect(config.DATABASE_MIGRATION_URL).toBeUndefined();
    });

    it("rejects .env.example's placeholders", () => {
      const example = envFile('.env.example');
      refused({ API_KEYS: example.API_KEYS! }, 'API_KEYS');
      refused({ API_KEYS: 'billing:token:REPLACE_WITH_ANOTHER_SECRET' }, 'API_KEYS');
      refused({ API_KEYS: `ops:status:CHANGEME-${apiSecret()}` }, 'API_KEYS');
      refused({ TOKEN_ENCRYPTION_KEYS: example.TOKEN_ENCRYPTION_KEYS! }, 'TOKEN_ENCRYPTION_KEYS');
    });

    it('rejects an all-zero or repeated-pattern 32-byte key', () => {
      refused(
        { TOKEN_ENCRYPTION_KEYS: `k1:${Buffer.alloc(32).toString('base64')}` },
        'TOKEN_ENCRYPTION_KEYS',
      );
      refused(
        { PAYLOAD_CODEC_KEYS: `c1:${Buffer.alloc(32, 'ab').toString('base64')}` },
        'PAYLOAD_CODEC_KEYS',
      );
    });

    it('rejects the same key in TOKEN_ENCRYPTION_KEYS and PAYLOAD_CODEC_KEYS', () => {
      refused({ PAYLOAD_CODEC_KEYS: `c1:${codecKey},c0:${tokenKey}` }, 'PAYLOAD_CODEC_KEYS');
    });

    it('rejects one secret under two names or roles', () => {
      const secret = apiSecret();
      refused({ API_KEYS: `ops:status:${secret},billing:token:${secret}` }, 'API_KEYS');
    });

    it('wants 128 bits of randomness in an API secret', () => {
      refused({ API_KEYS: `ops:status:${randomBytes(12).toString('hex')}` }, 'API_KEYS'); // 96 bits
      refused({ API_KEYS: `ops:status:${'Ab1-'.repeat(12)}` }, 'API_KEYS');
      refused({ API_KEYS: 'ops:status:correcthorsebatterystaple' }, 'API_KEYS');
      const strong = [randomBytes(16).toString('hex'), randomBytes(18).toString('base64url')];
      for (const secret of strong) {
        expect(loadConfig({ ...valid, API_KEYS: `ops:token:${secret}` }).API_KEYS[0]!.secret).toBe(secret);
      }
    });
  });

  describe('NODE_ENV=production', () => {
    it('accepts a production configuration', () => {
      expect(loadConfig(production).PUBLIC_BASE_URL).toBe('https://auth.example.com');
      expect(loadConfig({ ...production, PUBLIC_BASE_URL: 'http://127.0.0.1:3000' }).PUBLIC_BASE_URL).toBe(
        'http://127.0.0.1:3000',
      );
    });

    it('refuses the Feishu sandbox', () => {
      const sandbox = {
        FEISHU_DOMAIN: 'http://127.0.0.1:3100',
        FEISHU_OAUTH_DOMAIN: 'http://127.0.0.1:3100',
      };
      expect(() => loadConfig({ ...production, ...sandbox })).toThrow(
        /FEISHU_DOMAIN: must be https:\/\/ in production; FEISHU_OAUTH_DOMAIN: must be https/,
      );
      expect(loadConfig({ ...valid, ...sandbox }).FEISHU_DOMAIN).toBe('http://127.0.0.1:3100');
    });

    it('refuses a non-https PUBLIC_BASE_URL other than loopback', () => {
      const plain = { PUBLIC_BASE_URL: 'http://auth.example.com' };
      expect(() => loadConfig({ ...production, ...plain })).toThrow(
        /^invalid configuration: PUBLIC_BASE_URL: [^;]+$/,
      );
      expect(loadConfig({ ...valid, ...plain }).PUBLIC_BASE_URL).toBe('http://auth.example.com');
    });

    it('refuses the development secrets npm start generates', () => {
      const generated = {
        TOKEN_ENCRYPTION_KEYS: `dev1:${tokenKey}`,
        PAYLOAD_CODEC_KEYS: `dev1:${codecKey}`,
        API_KEYS: `dev:token:dev_${randomBytes(24).toString('base64url')}`,
      };
      let message = '';
      try {
        loadConfig({ ...production, ...generated });
      } catch (err) {
        message = (err as Error).message;
      }
      for (const variable of ['TOKEN_ENCRYPTION_KEYS', 'PAYLOAD_CODEC_KEYS', 'API_KEYS']) {
        expect(message).toMatch(new RegExp(`${variable}: holds a development key generated by npm start`));
      }
      expect(loadConfig({ ...valid, ...generated }).API_KEYS).toHaveLength(1);
    });

    it('refuses HTTP callbacks without their secrets', () => {
      expect(() => loadConfig({ ...production, FEISHU_CALLBACK_MODE: 'http' })).toThrow(
        /FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are required/,
      );
    });
  });

  it("passes the compose deployment's settings and the secrets deploy/make-secrets.sh makes, in production", () => {
    const deploy = mkdtempSync(path.join(tmpdir(), 'deploy-'));
    copyFileSync(path.join(root, 'deploy', 'make-secrets.sh'), path.join(deploy, 'make-secrets.sh'));
    execFileSync('sh', [path.join(deploy, 'make-secrets.sh')], { stdio: 'ignore' });
    const secret = (name: string) => readFileSync(path.join(deploy, 'secrets', name), 'utf8');
    const config = loadConfig({
      ...envFile('deploy/env/feishu-user-auth.env.example'),
      FEISHU_APP_SECRET: 'the app secret',
      DATABASE_URL: secret('database_url'),
      DATABASE_MIGRATION_URL: secret('database_migration_url'),
      TOKEN_ENCRYPTION_KEYS: secret('token_encryption_keys'),
      PAYLOAD_CODEC_KEYS: secret('payload_codec_keys'),
      API_KEYS: secret('api_keys'),
    });
    expect(config.NODE_ENV).toBe('production');
    expect(config.API_KEYS).toHaveLength(2);
  });

  it('passes the secrets the repository generates or ships for tests', async () => {
    const { API_KEY, STATUS_KEY } = await import('../helpers/stack.ts');
    expect(
      loadConfig({ ...valid, API_KEYS: `svc:token:${API_KEY},ops:status:${STATUS_KEY}` }).API_KEYS,
    ).toHaveLength(2);
    const { BENCH_API_KEY } = await import('../../bench/provision.ts');
    expect(loadConfig({ ...valid, API_KEYS: `bench:token:${BENCH_API_KEY}` }).API_KEYS).toHaveLength(1);
  });
});
