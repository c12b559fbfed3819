import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createReadStream, mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { API_KEY_ROLES, type ApiKeyRole } from '../../lib/api-key-roles.ts';
import { WorkflowNotFoundError } from '@temporalio/client';
import { batchWorkflowId, grantWorkflowId } from '../../workflows/task-queues.ts';
import { getBatch } from '../../lib/store/batches.ts';
import { eventually } from './cards.ts';
import { findOrInstallSchemathesis } from '../../scripts/stack/schemathesis.ts';
import { startStack, type Stack, type StackOptions } from './stack.ts';

const FUZZ_DIR = path.join(path.dirname(fileURLToPath(import.meta.url)), '..', 'fuzz');
const HOOKS = path.join(FUZZ_DIR, 'hooks.py');
const SETTINGS = path.join(FUZZ_DIR, 'schemathesis.toml');

/**
 * What each request is checked for. Left out: positive_data_acceptance (valid input is refused
 * for good reasons: no grant 404, rate limit 429, scope cap 422), use_after_free and
 * ensure_resource_availability (they need links between operations, which the document does not
 * declare), and missing_required_header / ignored_auth, which the roles' 401 and 403 cover.
 */
export const FUZZ_CHECKS = [
  'not_a_server_error',
  'status_code_conformance',
  'content_type_conformance',
  'response_headers_conformance',
  'response_schema_conformance',
  'negative_data_rejection',
  'unsupported_method',
] as const;

export interface FuzzStack {
  stack: Stack;
  /** One API key per role. */
  keys: Record<ApiKeyRole, string>;
  close(): Promise<void>;
}

const ATTEMPT_LIFETIME_SECONDS = 24 * 3600;

/**
 * A stack for the fuzzer: callbacks over HTTP (so /feishu/events is served), one key per role,
 * a rate limit the fuzzer meets often, and attempts that outlive any run: an attempt expiring
 * mid-run changes its grant, its attempt and its workflow's status with no request to blame. So
 * the default expiry and the sandbox's device codes last a day, and test/fuzz/hooks.py turns a
 * valid `expires_in_seconds` into a day as well.
 */
export async function startFuzzStack(options: Pick<StackOptions, 'infra'> = {}): Promise<FuzzStack> {
  const keys = Object.fromEntries(
    API_KEY_ROLES.map((role) => [role, randomBytes(24).toString('hex')]),
  ) as Record<ApiKeyRole, string>;
  const stack = await startStack({
    ...options,
    callbackMode: 'http',
    settings: { attemptExpirySeconds: ATTEMPT_LIFETIME_SECONDS },
    sandbox: { lifetimes: { deviceCodeSeconds: ATTEMPT_LIFETIME_SECONDS } },
    env: {
      API_KEYS: API_KEY_ROLES.map((role) => `fuzz-${role}:${role}:${keys[role]}`).join(','),
      AUTHORIZATION_REQUESTS_PER_MINUTE: '600',
      AUTHORIZATION_REQUEST_BURST: '30',
      // An accepted batch is waited for before the next request: no pacing beyond Feishu's own.
      BATCH_CARDS_PER_SECOND: '25',
    },
  });
  return { stack, keys, close: () => stack.close() };
}

export interface CheckCounts {
  passed: number;
  failed: number;
}

export interface FuzzReport {
  requests: number;
  byStatus: Record<string, number>;
  byCheck: Record<string, CheckCounts>;
  serverErrors: number;
  /** Schemathesis' failures, one line each (5xx, schema violations, accepted invalid input…). */
  failures: string[];
  /** Rows or workflows that a refused request changed, or that no accepted request accounts for. */
  stateChanges: string[];
  /** Requests after which work was still in flight when the witness stopped waiting for it. */
  settleLimits: string[];
}

/** Each row or workflow by a key naming it, with its content (JSON) and the user it belongs to. */
type Snapshot = Map<string, { owner: string; value: string }>;

/** One look at the state, and the workflows that had work in flight then. */
interface Look {
  state: Snapshot;
  busy: string[];
}

/** The grants, attempts and grant events of the stack's app. */
async function rows(stack: Stack, into: Snapshot): Promise<void> {
  const tables = [
    ['grant', 'grants', 'open_id'],
    ['attempt', 'user_auth_sessions', 'id'],
    ['event', 'grant_events', 'id'],
  ] as const;
  for (const [kind, table, key] of tables) {
    const { rows: found } = await stack.db.query<{ key: string; owner: string; value: string }>(
      `SELECT ${key}::text AS key, open_id AS owner, to_jsonb(t)::text AS value FROM ${table} t WHERE app_id = $1`,
      [stack.appId],
    );
    for (const { key: id, owner, value } of found) into.set(`${kind} ${id}`, { owner, value });
  }
}

/**
 * The workflows a look describes, by id: those visibility lists as running, those running at the
 * look before (to see them end), every user's that has rows and was never described, and those a
 * request named. A closed workflow is not asked again: it changes only when a new run starts,
 * which makes it running in visibility or is done by a request that names it. Run and status come
 * from describe, since visibility trails the workflows by as much as the machine is loaded.
 */
class KnownWorkflows {
  /** The latest description of every workflow found so far. */
  private readonly described = new Map<string, { owner: string; value: string; running: boolean }>();
  /** Named by the request at hand: described while it lasts. */
  private named = new Set<string>();
  private readonly grantPrefix: string;

  constructor(private readonly stack: Stack) {
    this.grantPrefix = grantWorkflowId(stack.appId, '');
  }

  ownerOf(workflowId: string): string {
    // A batch's workflow is the batch's own; a grant's, its user's.
    return workflowId.startsWith(this.grantPrefix) ? workflowId.slice(this.grantPrefix.length) : workflowId;
  }

  /** The open_ids and batch ids a request names, in its path or body. */
  nameIn(url: string, body: Buffer): void {
    this.named = new Set();
    const text = `${decodedOr(url)} ${body.toString('utf8')}`;
    const openIds = new Set(text.match(/ou_[A-Za-z0-9_-]{1,64}/g) ?? []);
    // A refused batch can name a thousand users; what it named beyond these, the end's check of
    // unaccounted workflows still sees.
    for (const openId of [...openIds].slice(0, NAMED_PER_REQUEST))
      this.named.add(grantWorkflowId(this.stack.appId, openId));
    const batchId = /"batch_id"\s*:\s*"([^"]{1,200})"/.exec(text)?.[1];
    if (batchId) this.named.add(batchWorkflowId(this.stack.appId, batchId));
  }

  async look(into: Snapshot): Promise<string[]> {
    const ids = new Set(this.named);
    const query = `TaskQueue = "${this.stack.config.TEMPORAL_TASK_QUEUE}" AND ExecutionStatus = "Running"`;
    for await (const workflow of this.stack.temporal.workflow.list({ query })) ids.add(workflow.workflowId);
    for (const [id, { running }] of this.described) if (running) ids.add(id);
    for (const { owner } of into.values()) {
      const id = grantWorkflowId(this.stack.appId, owner);
      if (!this.described.has(id)) ids.add(id);
    }
    const busy: string[] = [];
    await Promise.all(
      [...ids].map(async (id) => {
        let described;
        try {
          described = await this.stack.temporal.workflow.getHandle(id).describe();
        } catch (err) {
          if (err instanceof WorkflowNotFoundError) return;
          throw err;
        }
        const { raw } = described;
        const status = described.status.name;
        const running = status === 'RUNNING';
        this.described.set(id, {
          owner: this.ownerOf(id),
          value: JSON.stringify({ run: described.runId, status }),
          running,
        });
        // Work in flight: an activity (retries and their backoff included), a workflow task (an
        // update or signal being handled, an activity's result being taken), a child.
        const inFlight =
          (raw.pendingActivities?.length ?? 0) > 0 ||
          Boolean(raw.pendingWorkflowTask) ||
          (raw.pendingChildren?.length ?? 0) > 0;
        if (running && inFlight) busy.push(id);
      }),
    );
    for (const [id, { owner, value }] of this.described) into.set(`workflow ${id}`, { owner, value });
    return busy;
  }
}

/** A fuzzed path need not be valid percent-encoding; as sent, then. */
function decodedOr(url: string): string {
  try {
    return decodeURIComponent(url);
  } catch {
    return url;
  }
}

/** How many open_ids of one request the witness describes. */
const NAMED_PER_REQUEST = 50;

async function look(stack: Stack, workflows: KnownWorkflows): Promise<Look> {
  const state: Snapshot = new Map();
  await rows(stack, state);
  const busy = await workflows.look(state);
  return { state, busy };
}

/** What differs between two snapshots, whose it is, and which fields changed. */
function differences(before: Snapshot, after: Snapshot): { owner: string; change: string }[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  return [...keys]
    .filter((k) => before.get(k)?.value !== after.get(k)?.value)
    .map((k) => {
      const was = before.get(k);
      const is = after.get(k);
      const change = !was ? 'added' : !is ? 'removed' : `changed (${changedFields(was.value, is.value)})`;
      return { owner: (is ?? was)!.owner, change: `${k} ${change}` };
    });
}

/** The fields two JSON objects differ in; a status with its old and new value. */
function changedFields(was: string, is: string): string {
  const a = JSON.parse(was) as Record<string, unknown>;
  const b = JSON.parse(is) as Record<string, unknown>;
  return [...new Set([...Object.keys(a), ...Object.keys(b)])]
    .filter((field) => JSON.stringify(a[field]) !== JSON.stringify(b[field]))
    .map((field) => (field === 'status' ? `status ${String(a[field])} → ${String(b[field])}` : field))
    .join(', ');
}

const SETTLE_LOOK_MS = 100;
const SETTLE_LIMIT_MS = 120_000;

function sameSnapshot(a: Snapshot, b: Snapshot): boolean {
  return a.size === b.size && [...a].every(([key, { value }]) => b.get(key)?.value === value);
}

/**
 * The state once work in flight is over: a grant's workflow goes on after the update answered
 * (it records the card, retries a Feishu call that failed, settles rows), and a refused request
 * next in line must not be blamed for that. Settled is: no workflow has an activity, a workflow
 * task or a child pending, and the rows did not move since the look before. Past the limit, the
 * workflows still busy are reported, and the witness goes on.
 */
async function settledSnapshot(
  stack: Stack,
  workflows: KnownWorkflows,
  first: Look | undefined,
  onLimit: (busy: string[]) => void,
): Promise<Snapshot> {
  const deadline = Date.now() + SETTLE_LIMIT_MS;
  let last = first ?? (await look(stack, workflows));
  for (;;) {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_LOOK_MS));
    const next = await look(stack, workflows);
    if (next.busy.length === 0 && sameSnapshot(last.state, next.state)) return next.state;
    if (Date.now() > deadline) {
      onLimit(next.busy);
      return next.state;
    }
    last = next;
  }
}

interface Relayed {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function relay(target: URL, req: http.IncomingMessage, body: Buffer): Promise<Relayed> {
  return new Promise((resolve, reject) => {
    const upstream = http.request(
      { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () =>
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }),
        );
        res.on('error', reject);
      },
    );
    upstream.on('error', reject);
    upstream.end(body);
  });
}

function errorCode(body: Buffer): string | undefined {
  return (JSON.parse(body.toString('utf8')) as { error?: { code?: string } }).error?.code;
}

function requestedOpenId(body: Buffer): string {
  return (JSON.parse(body.toString('utf8')) as { open_id: string }).open_id;
}

const BATCH_PATHS = ['/v1/authorizations:batch', '/v1/authorizations:batchRevoke'];

/**
 * After an accepted batch: the users it named and its workflow may own state, and the witness
 * waits for it to finish, so its work in the background never shows up around a later refusal.
 */
async function settleBatch(stack: Stack, request: Buffer, answer: Buffer): Promise<string[]> {
  const { open_ids: openIds = [] } = JSON.parse(request.toString('utf8')) as { open_ids?: string[] };
  const { batch_id: batchId } = JSON.parse(answer.toString('utf8')) as { batch_id: string };
  // From the store rather than the API: the fuzz stack's keys are the fuzzer's own.
  await eventually(
    `batch ${batchId} to finish`,
    async () => ((await getBatch(stack.db, stack.appId, batchId))?.finished_at ? true : undefined),
    60_000,
  );
  return [...openIds, batchWorkflowId(stack.appId, batchId)];
}

async function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * Sits between schemathesis and the API, one request at a time: counts statuses, and compares
 * the state before and after every refused request, which must change nothing. One refusal is
 * an outcome rather than a refusal: 422 card_not_sent records the attempt Feishu would not
 * deliver (as designed: the user's history shows it), and may change that user's state only.
 * Users of accepted or attempted authorization requests, and accepted batches with their users,
 * are the only ones that may own rows and workflows at the end.
 */
async function startWitness(stack: Stack, onProgress?: FuzzOptions['onProgress']) {
  const target = new URL(stack.apiUrl);
  const byStatus: Record<string, number> = {};
  const stateChanges: string[] = [];
  const owners = new Set<string>();
  const settleLimits: string[] = [];
  const workflows = new KnownWorkflows(stack);
  let queue: Promise<void> = Promise.resolve();
  /** After a request that may have started work, the next comparison waits for it to end. */
  let unsettled = false;
  const handle = async (req: http.IncomingMessage, res: http.ServerResponse, received: Promise<Buffer>) => {
    const body = await received;
    workflows.nameIn(req.url ?? '/', body);
    const settle = (first?: Look) =>
      settledSnapshot(stack, workflows, first, (busy) =>
        settleLimits.push(`${req.method} ${req.url}: still busy ${busy.join(', ')}`),
      );
    const before = unsettled ? await settle() : (await look(stack, workflows)).state;
    const answer = await relay(target, req, body);
    byStatus[answer.status] = (byStatus[answer.status] ?? 0) + 1;
    const requests = Object.values(byStatus).reduce((n, m) => n + m, 0);
    if (requests % PROGRESS_EVERY === 0) onProgress?.({ requests, byStatus, stateChanges });
    const asked = req.method === 'POST' && new URL(req.url ?? '/', target).pathname === '/v1/authorizations';
    const attempted = asked && answer.status === 422 && errorCode(answer.body) === 'card_not_sent';
    const openId = asked && (attempted || answer.status < 300) ? requestedOpenId(body) : undefined;
    if (openId) owners.add(openId);
    unsettled =
      !['GET', 'HEAD', 'OPTIONS'].includes(req.method ?? 'GET') &&
      (openId !== undefined || answer.status < 300);
    const batched = req.method === 'POST' && BATCH_PATHS.includes(new URL(req.url ?? '/', target).pathname);
    if (batched && answer.status < 300) {
      for (const owner of await settleBatch(stack, body, answer.body)) owners.add(owner);
    }
    if (answer.status < 200 || answer.status > 299) {
      // A refusal that set work going is waited for, so what that work changes is seen.
      const after = await look(stack, workflows);
      const settled = after.busy.length > 0 ? await settle(after) : after.state;
      for (const { owner, change } of differences(before, settled)) {
        if (owner !== openId) stateChanges.push(`${req.method} ${req.url} → ${answer.status}: ${change}`);
      }
    }
    const { 'transfer-encoding': _chunked, connection: _connection, ...headers } = answer.headers;
    res.writeHead(answer.status, { ...headers, 'content-length': answer.body.length });
    res.end(answer.body);
  };
  const server = http.createServer((req, res) => {
    // Read at once, not when its turn comes: a request queued behind a long settle would
    // otherwise sit unread until Node's request timeout aborts it.
    const received = readBody(req);
    received.catch(() => undefined);
    queue = queue.then(() =>
      handle(req, res, received).catch((err: unknown) => {
        stateChanges.push(`the witness failed on ${req.method} ${req.url}: ${String(err)}`);
        res.destroy();
      }),
    );
  });
  // One request at a time by design: the queue, not Node, decides how long a request waits.
  server.requestTimeout = 0;
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    byStatus,
    stateChanges,
    settleLimits,
    /** Rows and workflows of users no accepted request named: a refused request made them. */
    unaccounted: async () =>
      [...(await look(stack, workflows)).state.entries()]
        .filter(([, { owner }]) => !owners.has(owner))
        .map(([key]) => `${key}: no accepted request accounts for it`),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface FuzzOptions {
  /** Test cases per operation and phase, for each role. */
  maxExamples: number;
  /** Schemathesis' phases; all by default. Its coverage phase alone sends ~500 requests per role. */
  phases?: ('examples' | 'coverage' | 'fuzzing' | 'stateful')[];
  seed?: number;
  /** Operations whose path matches are left out (schemathesis --exclude-path-regex). */
  excludePathRegex?: string;
  /** Where each role's JSON report is written. */
  reportDir: string;
  /** Receives schemathesis' console output. */
  output?: (chunk: string) => void;
  /** Told the counts so far every few hundred requests, so a run cut short still says something. */
  onProgress?: (counts: {
    requests: number;
    byStatus: Record<string, number>;
    stateChanges: string[];
  }) => void;
}

const PROGRESS_EVERY = 500;

/** What the JSON report says about failures: one entry per kind, with the operations it hit. */
interface JsonReport {
  failures: { code: string; title: string; count: number; operations: string[] }[];
}

/** Counts each check's verdicts over every test case of an NDJSON event stream. */
async function countChecks(ndjson: string, into: Record<string, CheckCounts>): Promise<void> {
  const lines = createInterface({ input: createReadStream(ndjson), crlfDelay: Infinity });
  for await (const line of lines) {
    if (!line.startsWith('{"ScenarioFinished"')) continue;
    const event = JSON.parse(line) as {
      ScenarioFinished: { recorder: { checks?: Record<string, { name: string; status: string }[]> } };
    };
    for (const checks of Object.values(event.ScenarioFinished.recorder.checks ?? {})) {
      for (const { name, status } of checks) {
        const counts = (into[name] ??= { passed: 0, failed: 0 });
        if (status === 'success') counts.passed += 1;
        if (status === 'failure') counts.failed += 1;
      }
    }
  }
}

/** One schemathesis run as one role; its JSON report, where it found what. */
async function runSchemathesis(
  st: string,
  witnessUrl: string,
  role: ApiKeyRole,
  key: string,
  openIds: string[],
  options: FuzzOptions,
): Promise<{ report: JsonReport; events: string }> {
  const reportPath = path.join(options.reportDir, `schemathesis-${role}.json`);
  const events = path.join(options.reportDir, `schemathesis-${role}.ndjson`);
  const args = [
    '--config-file',
    SETTINGS,
    'run',
    `${witnessUrl}/openapi.json`,
    '--checks',
    FUZZ_CHECKS.join(','),
    '--header',
    `Authorization: Bearer ${key}`,
    '--workers',
    '1',
    '--max-examples',
    String(options.maxExamples),
    '--seed',
    String(options.seed ?? 1),
    '--continue-on-failure',
    ...(options.phases ? ['--phases', options.phases.join(',')] : []),
    ...(options.excludePathRegex ? ['--exclude-path-regex', options.excludePathRegex] : []),
    '--suppress-health-check',
    'all',
    '--report',
    'json,ndjson',
    '--report-json-path',
    reportPath,
    '--report-ndjson-path',
    events,
  ];
  let output = '';
  const code = await new Promise<number | null>((resolve, reject) => {
    const child = spawn(st, args, {
      env: {
        ...process.env,
        SCHEMATHESIS_HOOKS: HOOKS,
        FUZZ_OPEN_IDS: openIds.join(','),
        NO_COLOR: '1',
      },
      // Schemathesis keeps its example database in the working directory: keep it with the reports.
      cwd: options.reportDir,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8');
      stream.on('data', (chunk: string) => {
        output += chunk;
        options.output?.(chunk);
      });
    }
    child.on('error', reject);
    child.on('exit', resolve);
  });
  let report: JsonReport;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8')) as JsonReport;
  } catch {
    throw new Error(`schemathesis ended (exit ${code}) without a report:\n${output.slice(-4000)}`);
  }
  return { report, events };
}

/** Fuzzes the whole API once per role and adds up what the runs and the witness saw. */
export async function fuzzApi({ stack, keys }: FuzzStack, options: FuzzOptions): Promise<FuzzReport> {
  const st = await findOrInstallSchemathesis();
  mkdirSync(options.reportDir, { recursive: true });
  const witness = await startWitness(stack, options.onProgress);
  const openIds = Array.from({ length: 12 }, (_, i) => stack.sandbox.openIdOf(stack.appId, i));
  const byCheck: Record<string, CheckCounts> = {};
  const failures: string[] = [];
  try {
    for (const role of API_KEY_ROLES) {
      const { report, events } = await runSchemathesis(st, witness.url, role, keys[role], openIds, options);
      await countChecks(events, byCheck);
      for (const f of report.failures) {
        failures.push(`as ${role}: ${f.code} ${f.title} (${f.count}): ${f.operations.join(', ')}`);
      }
    }
    const stateChanges = [...witness.stateChanges, ...(await witness.unaccounted())];
    const requests = Object.values(witness.byStatus).reduce((a, b) => a + b, 0);
    const serverErrors = Object.entries(witness.byStatus)
      .filter(([status]) => Number(status) >= 500)
      .reduce((sum, [, n]) => sum + n, 0);
    return {
      requests,
      byStatus: witness.byStatus,
      byCheck,
      serverErrors,
      failures,
      stateChanges,
      settleLimits: witness.settleLimits,
    };
  } finally {
    await witness.close();
  }
}
