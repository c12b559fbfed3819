import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { Ajv, type ErrorObject } from 'ajv';
import addFormatsModule from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { readText, readYaml, repoPath } from './shared.ts';

// ajv-formats is CommonJS; under ESM its default export may arrive wrapped.
const addFormats = ((addFormatsModule as unknown as { default?: typeof addFormatsModule }).default ??
  addFormatsModule) as unknown as (ajv: Ajv) => Ajv;

interface Service {
  image?: string;
  build?: unknown;
  command?: string[] | string;
  entrypoint?: string[] | string;
  environment?: Record<string, string | number | boolean | null>;
  env_file?: ({ path: string; required?: boolean } | string)[];
  secrets?: (string | { source: string })[];
  volumes?: (string | { source?: string })[];
  depends_on?: Record<string, { condition: string }> | string[];
  ports?: string[];
}
interface ComposeFile {
  services: Record<string, Service>;
  secrets: Record<string, { file?: string }>;
  volumes?: Record<string, unknown>;
}

const compose = readYaml('docker-compose.yml') as ComposeFile;

/**
 * The official Compose Specification schema (compose-spec/compose-spec, schema/compose-spec.json),
 * as the compose linter dclint ships it: its copy is that file at compose-spec commit 58a2548 (July
 * 2025); the two later changes there only add build.provenance/sbom and develop.watch.initial_sync,
 * which this file does not use. The package exports no subpath, so it is found beside its manifest.
 */
const officialSchema = path.join(
  path.dirname(createRequire(import.meta.url).resolve('dclint/package.json')),
  'schemas',
  'compose.schema.json',
);

function validator(schemaFile: string): (data: unknown) => ErrorObject[] {
  const ajv = new Ajv({ allErrors: true, strict: false });
  addFormats(ajv);
  const schema = JSON.parse(readFileSync(schemaFile, 'utf8')) as Record<string, unknown>;
  // The official file names draft-07 as "https://json-schema.org/draft-07/schema", a spelling Ajv
  // does not register; Ajv's default dialect is draft-07 itself, so drop the reference.
  if (/json-schema\.org\/draft-07\/schema#?$/.test(String(schema.$schema))) delete schema.$schema;
  const validate = ajv.compile(schema);
  return (data) => (validate(data) ? [] : (validate.errors ?? []));
}

/** The names of every `${NAME…}` the file interpolates (`$${…}` is a literal `${…}` for a shell). */
const interpolated = [...readText('docker-compose.yml').matchAll(/(?<!\$)\$\{([A-Z_][A-Z0-9_]*)/g)].map(
  (m) => m[1]!,
);

describe('docker-compose.yml', () => {
  it('is valid against the official Compose Specification schema', () => {
    const errors = validator(officialSchema)(compose);
    expect(errors.map((e) => `${e.instancePath} ${e.message}`)).toEqual([]);
  });

  it('is rejected by the schema when it is broken', () => {
    const broken = structuredClone(compose) as unknown as Record<
      string,
      Record<string, Record<string, unknown>>
    >;
    broken.services!.api!.restart = 'sometimes';
    broken.services!.worker!.comand = ['node'];
    expect(validator(officialSchema)(broken).length).toBeGreaterThan(0);
  });

  it('runs admin-tools at a published tag: the server version with its tctl and CLI versions', () => {
    // The admin-tools image has no plain 1.29.1 tag: temporalio/docker-compose names
    // 1.29.1-tctl-1.18.4-cli-1.5.0 beside server 1.29.1.
    const tag = (name: string) => compose.services[name]!.image!.replace(/^.*:\$\{[A-Z_]+:-(.*)\}$/, '$1');
    const server = tag('temporal');
    for (const name of ['temporal-schema', 'temporal-setup'])
      expect(tag(name), name).toMatch(
        new RegExp(`^${server.replace(/\./g, '\\.')}-tctl-[\\d.]+-cli-[\\d.]+$`),
      );
  });

  it("gives the Web UI the API's public address from the service's env file, not from interpolation", () => {
    expect(interpolated).not.toContain('PUBLIC_BASE_URL');
    const ui = compose.services['temporal-ui']!;
    expect(ui.env_file).toEqual(compose.services.api!.env_file);
    // What the container's shell does with the entrypoint compose hands it ($$ is compose's $).
    const [shell, flag, script] = (ui.entrypoint as string[]).map((a) => a.replaceAll('$$', '$'));
    expect([shell, flag]).toEqual(['/bin/sh', '-c']);
    for (const base of ['https://auth.example.com', 'https://auth.example.com/']) {
      const run = spawnSync(
        shell!,
        [flag!, script!.replace('exec ./start-ui-server.sh', 'echo "$TEMPORAL_CODEC_ENDPOINT"')],
        {
          env: { PATH: process.env.PATH, PUBLIC_BASE_URL: base },
          encoding: 'utf8',
        },
      );
      expect(run.stdout.trim()).toBe('https://auth.example.com/codec');
    }
    expect(script).toMatch(/&& exec \.\/start-ui-server\.sh$/);
  });

  it('runs the whole stack', () => {
    expect(Object.keys(compose.services).sort()).toEqual(
      [
        'api',
        'grafana',
        'migrate',
        'postgresql',
        'prometheus',
        'temporal',
        'temporal-schema',
        'temporal-setup',
        'temporal-ui',
        'worker',
      ].sort(),
    );
    const s = compose.services;
    expect(s.postgresql!.image).toMatch(/^postgres:/);
    expect(s.temporal!.image).toMatch(/^temporalio\/server:/);
    expect(s.temporal!.environment).toMatchObject({ DB: 'postgres12', POSTGRES_SEEDS: 'postgresql' });
    expect(s['temporal-ui']!.image).toMatch(/^temporalio\/ui:/);
    expect(s.worker!.command).toEqual(['node', 'dist/workers/main.js']);
    expect(s.api!.command).toEqual(['node', 'dist/api/main.js']);
    for (const name of ['worker', 'api']) {
      expect(s[name]!.build, name).toMatchObject({ context: '.', dockerfile: 'Dockerfile' });
      expect(s[name]!.depends_on, name).toMatchObject({
        postgresql: { condition: 'service_healthy' },
        'temporal-setup': { condition: 'service_completed_successfully' },
      });
    }
    expect(s.prometheus!.volumes).toEqual(
      expect.arrayContaining([
        './monitoring/prometheus/alerts.yml:/etc/prometheus/rules/alerts.yml:ro',
        './monitoring/prometheus/recording.yml:/etc/prometheus/rules/recording.yml:ro',
      ]),
    );
    expect(s.grafana!.volumes).toEqual(
      expect.arrayContaining([
        './monitoring/grafana/provisioning/datasources:/etc/grafana/provisioning/datasources:ro',
        './monitoring/grafana/provisioning/dashboards:/etc/grafana/provisioning/dashboards:ro',
        './monitoring/grafana/dashboards:/var/lib/grafana/dashboards:ro',
      ]),
    );
  });

  it('registers the search attributes the grant workflows set', () => {
    const script = readText('deploy', 'temporal', 'setup-namespace.sh');
    for (const spec of [
      'FeishuOpenId:Keyword',
      'FeishuAppId:Keyword',
      'FeishuAuthStatus:Keyword',
      'FeishuTokenExpiresAt:Datetime',
    ]) {
      expect(script).toContain(spec);
    }
    expect(compose.services['temporal-setup']!.command).toEqual(['/scripts/setup-namespace.sh']);
  });

  it('keeps secrets out of the file: only *_FILE paths and Docker secrets', () => {
    const secretLike = /SECRET|PASSWORD|PWD|TOKEN|KEYS?$|DATABASE_URL/;
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        if (!secretLike.test(key) || key.endsWith('_FILE')) continue;
        // Allowed: booleans and non-secret switches such as TEMPORAL_CODEC_PASS_ACCESS_TOKEN.
        expect(String(value), `${name}.${key}`).toMatch(/^(\$\{[A-Z_]+:-(true|false)\}|true|false)$/);
      }
      for (const [key, value] of Object.entries(svc.environment ?? {})) {
        if (key.endsWith('_FILE'))
          expect(String(value), `${name}.${key}`).toMatch(/^\/run\/secrets\/[a-z_]+$/);
      }
      for (const ref of svc.secrets ?? []) {
        const id = typeof ref === 'string' ? ref : ref.source;
        expect(compose.secrets[id], `${name} uses undeclared secret ${id}`).toBeDefined();
      }
    }
    for (const [id, def] of Object.entries(compose.secrets)) {
      expect(def.file, id).toBe(`deploy/secrets/${id}`);
    }
    expect(readText('deploy', '.gitignore')).toMatch(/^secrets\/$/m);
    const made = readText('deploy', 'make-secrets.sh');
    for (const id of Object.keys(compose.secrets))
      expect(made, `make-secrets.sh creates ${id}`).toContain(`put ${id} `);
  });

  it('covers the configuration contract with the env file and the secrets', () => {
    const example = readText('deploy', 'env', 'feishu-user-auth.env.example');
    const app = compose.services.api!;
    const provided = new Set([
      ...[...example.matchAll(/^([A-Z_]+)=/gm)].map((m) => m[1]!),
      ...Object.keys(app.environment ?? {}).map((k) => k.replace(/_FILE$/, '')),
    ]);
    const contract = [
      'FEISHU_APP_ID',
      'FEISHU_APP_SECRET',
      'FEISHU_DOMAIN',
      'FEISHU_OAUTH_DOMAIN',
      'FEISHU_CALLBACK_MODE',
      'FEISHU_ENCRYPT_KEY',
      'FEISHU_VERIFICATION_TOKEN',
      'PUBLIC_BASE_URL',
      'DATABASE_URL',
      'TEMPORAL_ADDRESS',
      'TEMPORAL_NAMESPACE',
      'TEMPORAL_TASK_QUEUE',
      'TOKEN_ENCRYPTION_KEYS',
      'PAYLOAD_CODEC_KEYS',
      'API_KEYS',
      'PORT',
    ];
    expect(contract.filter((v) => !provided.has(v))).toEqual([]);
    expect(app.env_file).toEqual([{ path: 'deploy/env/feishu-user-auth.env', required: true }]);
  });

  it('mounts only files that exist in the repository', () => {
    for (const [name, svc] of Object.entries(compose.services)) {
      for (const v of svc.volumes ?? []) {
        const source = typeof v === 'string' ? v.split(':')[0]! : (v.source ?? '');
        if (!source.startsWith('./')) {
          expect(compose.volumes, `${name}: named volume ${source}`).toHaveProperty(source);
          continue;
        }
        expect(existsSync(repoPath(source)), `${name} mounts ${source}`).toBe(true);
      }
      const deps = Array.isArray(svc.depends_on) ? svc.depends_on : Object.keys(svc.depends_on ?? {});
      for (const dep of deps) expect(compose.services, name).toHaveProperty(dep);
    }
  });
});

describe('Dockerfile', () => {
  const dockerfile = readText('Dockerfile');
  const lines = dockerfile.split('\n').filter((l) => l.trim() && !l.trimStart().startsWith('#'));

  it('builds on Node 22 in two stages, runs dist/ with production dependencies only, as a non-root user', () => {
    const froms = lines.filter((l) => l.startsWith('FROM'));
    expect(froms).toEqual(['FROM node:22-slim AS build', 'FROM node:22-slim']);
    expect(dockerfile).not.toMatch(/\btsx\b/);
    const users = lines.filter((l) => l.startsWith('USER')).map((l) => l.split(/\s+/)[1]);
    expect(users.at(-1)).toBeDefined();
    expect(['root', '0']).not.toContain(users.at(-1));
    expect(dockerfile).toContain('ENTRYPOINT ["/app/deploy/docker-entrypoint.sh"]');
  });

  it('exposes every port the processes listen on', () => {
    const exposed = lines
      .find((l) => l.startsWith('EXPOSE'))!
      .split(/\s+/)
      .slice(1);
    expect(exposed.sort()).toEqual(['3000', '9464', '9465', '9466']);
  });

  it('keeps secrets and local state out of the build context', () => {
    const ignored = readText('.dockerignore').split('\n');
    for (const p of ['.git', 'node_modules', '.env', '.data', 'deploy/secrets']) expect(ignored).toContain(p);
  });
});
