import { describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../lib/config';

const key = Buffer.alloc(32, 1).toString('base64');
const valid = {
  DATABASE_URL: 'postgres://u:p@localhost/db',
  TOKEN_ENCRYPTION_KEYS: `k1:${key}`,
  PAYLOAD_CODEC_KEYS: `c1:${key}`,
};

describe('configuration', () => {
  it('applies the documented defaults', () => {
    const config = loadConfig(valid);
    expect(config.FEISHU_DOMAIN).toBe('https://open.feishu.cn');
    expect(config.FEISHU_CALLBACK_MODE).toBe('ws');
    expect(config.PUBLIC_BASE_URL).toBe('http://localhost:3000');
    expect(config.TOKEN_ENCRYPTION_KEYS[0]!.id).toBe('k1');
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
    expect(() => loadConfig({ ...valid, API_KEYS: 'ops:admin:0123456789abcdef' })).toThrow(/API_KEYS/);
    expect(loadConfig({ ...valid, API_KEYS: 'ops:status:0123456789abcdef' }).API_KEYS[0]!.role).toBe(
      'status',
    );
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
});
