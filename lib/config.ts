import { z } from 'zod';
import { API_KEY_ROLES, apiKeyRole, type ApiKeyRole } from './api-key-roles.ts';
import { DEFAULT_GRANT_SETTINGS, type AuthFlow, type GrantSettings } from './grant-types.ts';
import { parseProxyRule, type ProxyAllowLists, type ProxyRule } from './proxy-allow-list.ts';
import { parseEnvSubscribers, type EnvSubscriber } from './webhooks/env-subscribers.ts';

/** Raised when the environment does not satisfy the contract; its message names the variable. */
export class ConfigError extends Error {
  override name = 'ConfigError';
}

export interface KeyRingEntry {
  id: string;
  key: Uint8Array;
}

export interface ApiKey {
  name: string;
  role: ApiKeyRole;
  secret: string;
}

const KEY_BYTES = 32;
/** What a secret must be able to hold: beyond any online or offline guessing. */
const MIN_SECRET_BITS = 128;

/**
 * An estimate of the randomness in a secret: its length times log2 of the alphabet it draws from.
 * Random draws use at least half of the symbols they could (in expectation far more); a repeated
 * byte or pattern does not, and counts as no randomness at all.
 */
export function estimatedBits(symbols: ArrayLike<string | number>, alphabet: number): number {
  const distinct = new Set(Array.from(symbols)).size;
  if (distinct < Math.min(alphabet, symbols.length) / 2) return 0;
  return symbols.length * Math.log2(alphabet);
}

/** The alphabet a text secret draws from, judged by the character classes it uses (hex is its own). */
function textAlphabet(secret: string): number {
  if (/^[0-9a-f]+$/i.test(secret)) return 16;
  const classes: [RegExp, number][] = [
    [/[a-z]/, 26],
    [/[A-Z]/, 26],
    [/[0-9]/, 10],
    [/[^a-zA-Z0-9]/, 33],
  ];
  return classes.reduce((size, [pattern, count]) => (pattern.test(secret) ? size + count : size), 0);
}

/** Words of the values the documentation shows, which must never become a real key. */
const PLACEHOLDER = /replace|change_?me|example|placeholder/i;

function parseKeyRing(raw: string, ctx: z.RefinementCtx): KeyRingEntry[] {
  const entries: KeyRingEntry[] = [];
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const sep = part.indexOf(':');
    const id = sep > 0 ? part.slice(0, sep) : '';
    const key = Buffer.from(part.slice(sep + 1), 'base64');
    if (!/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== KEY_BYTES) {
      // Never echo the entry: it is a secret.
      ctx.addIssue({
        code: 'custom',
        message: `entry ${entries.length + 1} must be "id:base64" with a ${KEY_BYTES}-byte key`,
      });
      return z.NEVER;
    }
    if (estimatedBits(key, 256) < MIN_SECRET_BITS) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${entries.length + 1} is not a random key (all zeros or a repeated pattern)`,
      });
      return z.NEVER;
    }
    entries.push({ id, key: new Uint8Array(key) });
  }
  if (entries.length === 0) {
    ctx.addIssue({ code: 'custom', message: 'at least one key is required' });
    return z.NEVER;
  }
  if (new Set(entries.map((e) => e.id)).size !== entries.length) {
    ctx.addIssue({ code: 'custom', message: 'key ids must be unique' });
    return z.NEVER;
  }
  return entries;
}

function parseApiKeys(raw: string, ctx: z.RefinementCtx): ApiKey[] {
  const keys: ApiKey[] = [];
  for (const part of raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean)) {
    const [name, roleName, ...rest] = part.split(':');
    const secret = rest.join(':');
    const role = apiKeyRole(roleName ?? '');
    if (!name || !role) {
      ctx.addIssue({
        code: 'custom',
        message: `entry ${keys.length + 1} must be "name:role:secret" with a role of ${API_KEY_ROLES.join(', ')} (or the older status)`,
      });
      return z.NEVER;
    }
    const problem = PLACEHOLDER.test(secret)
      ? 'has a placeholder secret; generate one (openssl rand -hex 24)'
      : estimatedBits(secret, textAlphabet(secret)) < MIN_SECRET_BITS
        ? `needs a random secret of ${MIN_SECRET_BITS}+ bits (openssl rand -hex 24)`
        : keys.some((k) => k.secret === secret)
          ? 'repeats the secret of another entry; give each name and role its own'
          : undefined;
    if (problem) {
      ctx.addIssue({ code: 'custom', message: `entry ${keys.length + 1} ${problem}` });
      return z.NEVER;
    }
    keys.push({ name, role, secret });
  }
  return keys;
}

/** PROXY_ALLOW: `{"key name": ["GET,POST /open-apis/task/v2", "/open-apis/authen/v1/user_info"]}`. */
function parseProxyAllow(raw: string, ctx: z.RefinementCtx): ProxyAllowLists {
  const lists = new Map<string, ProxyRule[]>();
  if (raw.trim() === '') return lists;
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    parsed = undefined;
  }
  const shape = z.record(z.string().min(1), z.array(z.string())).safeParse(parsed);
  if (!shape.success) {
    ctx.addIssue({
      code: 'custom',
      message: 'must be a JSON object of API key names to lists of "[METHODS] /open-apis/…" rules',
    });
    return z.NEVER;
  }
  for (const [name, texts] of Object.entries(shape.data)) {
    const rules: ProxyRule[] = [];
    for (const text of texts) {
      const rule = parseProxyRule(text);
      if (typeof rule === 'string') {
        ctx.addIssue({ code: 'custom', message: `${name}: ${rule}` });
        return z.NEVER;
      }
      rules.push(rule);
    }
    lists.set(name, rules);
  }
  return lists;
}

function parseWebhookUrls(raw: string, ctx: z.RefinementCtx): EnvSubscriber[] {
  const parsed = parseEnvSubscribers(raw);
  if (typeof parsed === 'string') {
    ctx.addIssue({ code: 'custom', message: parsed });
    return z.NEVER;
  }
  return parsed;
}

function parseOrigins(raw: string, ctx: z.RefinementCtx): string[] {
  const origins = raw
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
  for (const origin of origins) {
    if (!URL.canParse(origin) || new URL(origin).origin !== origin) {
      ctx.addIssue({ code: 'custom', message: `"${origin}" is not an origin like http://host:port` });
      return z.NEVER;
    }
  }
  return origins;
}

const optionalString = z
  .string()
  .optional()
  .transform((v) => (v === undefined || v === '' ? undefined : v));

// Certificates and keys as text; the image's entrypoint reads them from NAME_FILE.
const pem = optionalString.refine((v) => v === undefined || v.includes('-----BEGIN '), {
  message: 'must be PEM text (NAME_FILE names a file to read it from)',
});

const postgresUrl = z.string().regex(/^postgres(ql)?:\/\//, 'must be a postgres:// URL');

const url = z.url({ protocol: /^https?$/ }).transform((u) => u.replace(/\/+$/, ''));

const schema = z.object({
  // production turns development conveniences into configuration errors (productionProblems).
  NODE_ENV: optionalString,
  FEISHU_APP_ID: optionalString,
  FEISHU_APP_SECRET: optionalString,
  FEISHU_DOMAIN: url.default('https://open.feishu.cn'),
  FEISHU_OAUTH_DOMAIN: url.default('https://accounts.feishu.cn'),
  FEISHU_CALLBACK_MODE: z.enum(['ws', 'http']).default('ws'),
  FEISHU_ENCRYPT_KEY: optionalString,
  FEISHU_VERIFICATION_TOKEN: optionalString,
  FEISHU_TOKEN_ENDPOINT: z.enum(['v3', 'v2']).default('v3'),
  PUBLIC_BASE_URL: url.optional(),
  // code: Feishu's authorize page redirects to PUBLIC_BASE_URL; device: the user confirms a code on
  // Feishu's page, no public URL needed; auto: device unless PUBLIC_BASE_URL is set.
  FEISHU_AUTH_FLOW: z.enum(['code', 'device', 'auto']).default('auto'),
  DATABASE_URL: postgresUrl,
  // A role that may change the schema, for migrations only; DATABASE_URL's role then needs only
  // SELECT, INSERT, UPDATE and DELETE (docs/deployment.md, database roles).
  DATABASE_MIGRATION_URL: optionalString.pipe(postgresUrl.optional()),
  TEMPORAL_ADDRESS: z
    .string()
    .regex(/^[^\s:/]+:\d{1,5}$/, 'must be host:port')
    .default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().min(1).default('default'),
  TEMPORAL_TASK_QUEUE: z.string().min(1).default('feishu-user-auth'),
  // TLS to the frontend (lib/temporal.ts): on when any TLS setting or the API key is set, or
  // TEMPORAL_TLS=true for a server certificate the system's CAs verify.
  TEMPORAL_TLS: optionalString.pipe(z.enum(['true', 'false']).optional()).transform((v) => v === 'true'),
  TEMPORAL_TLS_CA: pem,
  TEMPORAL_TLS_CERT: pem,
  TEMPORAL_TLS_KEY: pem,
  TEMPORAL_TLS_SERVER_NAME: optionalString,
  TEMPORAL_API_KEY: optionalString,
  TOKEN_ENCRYPTION_KEYS: z.string().transform(parseKeyRing),
  // Required: without it every payload, tokens' metadata and user names included, would reach
  // Temporal in plaintext.
  PAYLOAD_CODEC_KEYS: z.string().transform(parseKeyRing),
  // Browser origins of the Temporal Web UI allowed to call the codec server (CORS).
  CODEC_CORS_ORIGINS: z.string().default('http://localhost:8233').transform(parseOrigins),
  API_KEYS: z.string().default('').transform(parseApiKeys),
  // Per API key and per API replica: POST /v1/authorizations, each of which may DM a user a card.
  AUTHORIZATION_REQUESTS_PER_MINUTE: z.coerce.number().positive().default(60),
  AUTHORIZATION_REQUEST_BURST: z.coerce.number().int().min(1).default(20),
  // Per user, across API replicas: cards a user asks for themselves (a DM command, the Retry button).
  USER_CARD_REQUESTS_PER_MINUTE: z.coerce.number().int().min(1).default(5),
  // How long the API trusts the app's enabled scopes as Feishu listed them (the scope pre-check).
  APP_SCOPES_CACHE_SECONDS: z.coerce.number().int().min(0).max(3600).default(60),
  // The proxy (/v1/users/:openId/proxy/open-apis/…): what each key may call, and how often per
  // key and per user (token buckets in each API replica), how large and how long a call may be.
  PROXY_ALLOW: z.string().default('').transform(parseProxyAllow),
  PROXY_REQUESTS_PER_MINUTE: z.coerce.number().positive().default(600),
  PROXY_REQUEST_BURST: z.coerce.number().int().min(1).default(100),
  PROXY_USER_REQUESTS_PER_MINUTE: z.coerce.number().positive().default(120),
  PROXY_USER_REQUEST_BURST: z.coerce.number().int().min(1).default(20),
  PROXY_MAX_REQUEST_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(1024 * 1024),
  PROXY_MAX_RESPONSE_BYTES: z.coerce
    .number()
    .int()
    .min(0)
    .default(20 * 1024 * 1024),
  PROXY_TIMEOUT_SECONDS: z.coerce.number().positive().default(30),
  // Requests long-polling an attempt (?wait=N) at once, per API replica; more answer 503.
  MAX_WAITING_REQUESTS: z.coerce.number().int().min(0).default(100),
  // Subscribers to grant events, each with its signing secret(s): `name=url secret [previous]`.
  WEBHOOK_URLS: z.string().default('').transform(parseWebhookUrls),
  // A delivery is retried with exponential back-off for this long, then dead-lettered.
  WEBHOOK_RETRY_WINDOW_SECONDS: z.coerce.number().positive().default(86_400),
  WEBHOOK_RETRY_INITIAL_SECONDS: z.coerce.number().positive().default(5),
  WEBHOOK_RETRY_MAX_INTERVAL_SECONDS: z.coerce.number().positive().default(3_600),
  PORT: z.coerce.number().int().min(0).max(65535).default(3000),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  AUTH_EXPIRY_SECONDS: z.coerce.number().int().min(1).max(86_400).default(600),
  REFRESH_POLICY: z.enum(['keep_alive', 'eager']).default('keep_alive'),
  REFRESH_LEAD_SECONDS: z.coerce.number().positive().default(DEFAULT_GRANT_SETTINGS.refreshLeadSeconds),
  REFRESH_JITTER_SECONDS: z.coerce.number().min(0).default(DEFAULT_GRANT_SETTINGS.refreshJitterSeconds),
  ACCESS_TOKEN_MARGIN_SECONDS: z.coerce
    .number()
    .min(0)
    .default(DEFAULT_GRANT_SETTINGS.accessTokenMarginSeconds),
  REFRESHES_PER_RUN: z.coerce.number().int().min(1).default(DEFAULT_GRANT_SETTINGS.refreshesPerRun),
  // Feishu allows 1000 token calls a minute per app (16.6/s sustained), shared with code exchanges.
  REFRESH_RATE_PER_SECOND: z.coerce.number().positive().max(16).default(15),
  // Cards a batch sends per second across all workers. Feishu allows 50/s but only 1000/min per
  // app for sending messages: 15/s stays inside both, leaving room for single requests. Temporal's
  // limiter lets up to twice the rate through in a burst, so above 25 a burst could pass 50/s.
  BATCH_CARDS_PER_SECOND: z.coerce.number().positive().max(25).default(15),
  // Users one run of a batch workflow handles before it continues as new.
  BATCH_USERS_PER_RUN: z.coerce.number().int().min(1).max(1000).default(200),
  // Sleeping grants wake at most a few times a day: a small cache keeps 10,000 of them in < 1 GB.
  WORKER_MAX_CACHED_WORKFLOWS: z.coerce.number().int().min(1).default(500),
  // Activities in flight finish within this on SIGTERM; keep it under the orchestrator's stop
  // timeout (compose: 60 s), or they are killed mid-call.
  WORKER_SHUTDOWN_GRACE_SECONDS: z.coerce.number().min(0).default(45),
  WORKER_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9464),
  WORKER_SDK_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9465),
  // The API's /metrics, on a port of its own so that PORT, which faces the public, never serves it.
  API_METRICS_PORT: z.coerce.number().int().min(0).max(65535).default(9466),
});

export type Config = Omit<z.output<typeof schema>, 'FEISHU_AUTH_FLOW'> & {
  PUBLIC_BASE_URL: string;
  /** FEISHU_AUTH_FLOW with auto decided: what a request that names no flow gets. */
  FEISHU_AUTH_FLOW: AuthFlow;
};

function parseEnv<S extends z.ZodType>(shape: S, env: NodeJS.ProcessEnv): z.output<S> {
  const result = shape.safeParse(env);
  if (!result.success) {
    const problems = result.error.issues.map((i) => {
      const variable = String(i.path[0] ?? 'environment');
      const missing = i.code === 'invalid_type' && env[variable] === undefined;
      return `${variable}: ${missing ? 'is required' : i.message}`;
    });
    throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  }
  return result.data;
}

/** Reads and validates the environment contract (.env.example); throws one ConfigError naming every bad variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const config = parseEnv(schema, env);
  if (
    config.FEISHU_CALLBACK_MODE === 'http' &&
    (!config.FEISHU_ENCRYPT_KEY || !config.FEISHU_VERIFICATION_TOKEN)
  ) {
    // Without them anyone could post a forged card callback (and revoke any user).
    throw new ConfigError(
      'invalid configuration: FEISHU_ENCRYPT_KEY and FEISHU_VERIFICATION_TOKEN are required when FEISHU_CALLBACK_MODE=http',
    );
  }
  if (Boolean(config.FEISHU_APP_ID) !== Boolean(config.FEISHU_APP_SECRET)) {
    throw new ConfigError('invalid configuration: FEISHU_APP_ID and FEISHU_APP_SECRET must be set together');
  }
  const unknownKey = [...config.PROXY_ALLOW.keys()].find(
    (name) => !config.API_KEYS.some((k) => k.name === name),
  );
  if (unknownKey !== undefined) {
    // A misspelt name would leave the key it meant without its allow-list, so free to call anything.
    throw new ConfigError(
      `invalid configuration: PROXY_ALLOW: names "${unknownKey}", which is no key of API_KEYS`,
    );
  }
  const tokenKeys = new Set(config.TOKEN_ENCRYPTION_KEYS.map((k) => Buffer.from(k.key).toString('hex')));
  if (config.PAYLOAD_CODEC_KEYS.some((k) => tokenKeys.has(Buffer.from(k.key).toString('hex')))) {
    // One key for both would let anyone who can read Temporal histories attack the token store too.
    throw new ConfigError(
      'invalid configuration: PAYLOAD_CODEC_KEYS: shares a key with TOKEN_ENCRYPTION_KEYS; each ring needs its own keys',
    );
  }
  const complete = {
    ...config,
    PUBLIC_BASE_URL: config.PUBLIC_BASE_URL ?? `http://localhost:${config.PORT}`,
    FEISHU_AUTH_FLOW: resolveAuthFlow(config.FEISHU_AUTH_FLOW, config.PUBLIC_BASE_URL),
  };
  const problems = config.NODE_ENV === 'production' ? productionProblems(complete) : [];
  if (problems.length > 0) throw new ConfigError(`invalid configuration: ${problems.join('; ')}`);
  return complete;
}

/** Without a public URL no redirect can reach us, so auto means the flow that needs none. */
function resolveAuthFlow(flow: AuthFlow | 'auto', publicBaseUrl: string | undefined): AuthFlow {
  if (flow !== 'auto') return flow;
  return publicBaseUrl ? 'code' : 'device';
}

/** The key id `npm start` gives the development key rings it generates (scripts/stack/local-env.ts). */
export const DEVELOPMENT_KEY_ID = 'dev1';
/** Prefix of the development API secrets `npm start` generates, recognisable wherever they are copied. */
export const DEVELOPMENT_API_SECRET_PREFIX = 'dev_';

const isLoopback = (url: string) => /^(localhost|127(\.\d{1,3}){3}|\[::1\])$/.test(new URL(url).hostname);

/**
 * What NODE_ENV=production refuses although development allows it, one line per variable. HTTP
 * callbacks without their secrets are refused in every mode (loadConfig).
 */
function productionProblems(config: Config): string[] {
  const problems: string[] = [];
  for (const name of ['FEISHU_DOMAIN', 'FEISHU_OAUTH_DOMAIN'] as const) {
    // The Feishu sandbox, or anything else that would see app secrets and tokens unencrypted.
    if (!config[name].startsWith('https://')) problems.push(`${name}: must be https:// in production`);
  }
  if (!config.PUBLIC_BASE_URL.startsWith('https://') && !isLoopback(config.PUBLIC_BASE_URL)) {
    // OAuth codes and the callback page travel to this address.
    problems.push('PUBLIC_BASE_URL: must be https:// in production (or a loopback address)');
  }
  for (const name of ['TOKEN_ENCRYPTION_KEYS', 'PAYLOAD_CODEC_KEYS'] as const) {
    if (config[name].some((k) => k.id === DEVELOPMENT_KEY_ID)) {
      problems.push(`${name}: holds a development key generated by npm start; generate production keys`);
    }
  }
  if (config.API_KEYS.some((k) => k.secret.startsWith(DEVELOPMENT_API_SECRET_PREFIX))) {
    problems.push('API_KEYS: holds a development key generated by npm start; generate production keys');
  }
  return problems;
}

const temporalKeys = {
  TEMPORAL_ADDRESS: true,
  TEMPORAL_NAMESPACE: true,
  TEMPORAL_TLS: true,
  TEMPORAL_TLS_CA: true,
  TEMPORAL_TLS_CERT: true,
  TEMPORAL_TLS_KEY: true,
  TEMPORAL_TLS_SERVER_NAME: true,
  TEMPORAL_API_KEY: true,
} as const;

/** Where Temporal is and how to reach it (lib/temporal.ts). */
export type TemporalConnectionConfig = Pick<Config, keyof typeof temporalKeys>;
export type TemporalConfig = TemporalConnectionConfig & Pick<Config, 'PAYLOAD_CODEC_KEYS'>;

/** For tools that only talk to Temporal (replay): no database, token keys or Feishu app needed. */
export function loadTemporalConfig(env: NodeJS.ProcessEnv = process.env): TemporalConfig {
  return parseEnv(schema.pick({ ...temporalKeys, PAYLOAD_CODEC_KEYS: true }), env);
}

/** The API keys alone, for `npm start`, which needs one before the rest of the configuration exists. */
export function loadApiKeys(env: NodeJS.ProcessEnv = process.env): ApiKey[] {
  return parseEnv(schema.pick({ API_KEYS: true }), env).API_KEYS;
}

/** The Feishu app credentials, which every process that talks to Feishu needs. */
export function requireFeishuApp(config: Config): { appId: string; appSecret: string } {
  if (!config.FEISHU_APP_ID || !config.FEISHU_APP_SECRET) {
    throw new ConfigError('invalid configuration: FEISHU_APP_ID and FEISHU_APP_SECRET are required');
  }
  return { appId: config.FEISHU_APP_ID, appSecret: config.FEISHU_APP_SECRET };
}

/**
 * The grant tunables a run starts with, complete so that no code default decides on replay. The
 * API passes them to a new grant, the worker to every continue-as-new; a run keeps them, so a
 * changed setting reaches a live grant at its next run.
 */
export function grantSettingsFrom(config: Config): GrantSettings {
  return {
    ...DEFAULT_GRANT_SETTINGS,
    attemptExpirySeconds: config.AUTH_EXPIRY_SECONDS,
    refreshPolicy: config.REFRESH_POLICY,
    refreshLeadSeconds: config.REFRESH_LEAD_SECONDS,
    refreshJitterSeconds: config.REFRESH_JITTER_SECONDS,
    accessTokenMarginSeconds: config.ACCESS_TOKEN_MARGIN_SECONDS,
    refreshesPerRun: config.REFRESHES_PER_RUN,
  };
}
