import { describe, expect, it } from 'vitest';
import { readText, readYaml } from './shared.ts';

interface Service {
  ports?: string[];
  command?: string[];
  environment?: Record<string, string>;
  depends_on?: Record<string, { condition: string }>;
}

const services = (readYaml('docker-compose.yml') as { services: Record<string, Service> }).services;

describe('docker-compose.yml exposes only what users need', () => {
  it('publishes ports on 127.0.0.1 unless PUBLISH_ADDRESS says otherwise', () => {
    const published = Object.entries(services).flatMap(([name, s]) => (s.ports ?? []).map((p) => [name, p]));
    expect(published.length).toBeGreaterThan(0);
    for (const [name, port] of published)
      expect(port, name).toMatch(/^\$\{PUBLISH_ADDRESS:-127\.0\.0\.1\}:\d+:\d+$/);
  });

  it('does not publish the Temporal frontend, which can terminate, reset and signal any grant', () => {
    expect(services.temporal!.ports ?? []).toEqual([]);
  });

  it('runs Prometheus without the lifecycle API (POST /-/quit, /-/reload)', () => {
    expect(services.prometheus!.command).not.toContain('--web.enable-lifecycle');
  });
});

describe('the service runs as a role that may only read and write rows', () => {
  it('migrations run once, as the owner, before the API and the worker start', () => {
    expect(services.migrate!.command).toEqual(['node', 'dist/db/cli.js']);
    expect(services.migrate!.environment!.DATABASE_MIGRATION_URL_FILE).toBe(
      '/run/secrets/database_migration_url',
    );
    for (const name of ['api', 'worker']) {
      expect(services[name]!.environment, name).not.toHaveProperty('DATABASE_MIGRATION_URL_FILE');
      expect(services[name]!.depends_on!.migrate, name).toEqual({
        condition: 'service_completed_successfully',
      });
    }
  });

  it('feishu_app gets DML rights on what feishu creates, and DATABASE_URL logs in as feishu_app', () => {
    const init = readText('deploy', 'postgres', 'init-roles.sh');
    expect(init).toMatch(
      /ALTER DEFAULT PRIVILEGES FOR ROLE feishu IN SCHEMA public\s+GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO feishu_app;/,
    );
    expect(init).not.toMatch(/GRANT (ALL|CREATE)[^;]*TO feishu_app/);
    const secrets = readText('deploy', 'make-secrets.sh');
    expect(secrets).toMatch(/put database_url "postgres:\/\/feishu_app:/);
    expect(secrets).toMatch(/put database_migration_url "postgres:\/\/feishu:/);
  });
});
