import type Router from '@koa/router';
import type { Context } from 'koa';
import { bearerToken } from './app-tokens.ts';
import { openIdFor } from './config.ts';
import { openApi } from './errors.ts';
import { ok } from './http/respond.ts';
import { jsonBody } from './http/body.ts';
import { randomHex } from './ids.ts';
import { checkUserAccessToken, type UserTokenOwner } from './oauth/grants.ts';
import type { Runtime } from './runtime.ts';
import type { Task } from './store.ts';

const READ = ['task:task:read', 'task:task:write'];
const WRITE = ['task:task:write'];
const MAX_SUMMARY = 3000;

/** The user behind the token, checked as user_info checks it, and holding one of `scopes`. */
function taskOwner(rt: Runtime, ctx: Context, scopes: string[]): UserTokenOwner {
  const owner = checkUserAccessToken(rt.store, bearerToken(ctx));
  if (!scopes.some((s) => owner.token.scopes.includes(s))) throw openApi.scopeNotGranted(scopes);
  return owner;
}

function tasksOf(rt: Runtime, { app, user }: UserTokenOwner): Task[] {
  const key = `${app.appId}:${user.key}`;
  let tasks = rt.store.tasks.get(key);
  if (!tasks) rt.store.tasks.set(key, (tasks = []));
  return tasks;
}

const view = (task: Task) => ({
  guid: task.guid,
  summary: task.summary,
  description: task.description,
  completed_at: '0',
  created_at: String(task.createdAt),
  creator: { id: task.creatorOpenId, type: 'user' },
});

/** An opaque page token: the index of the next item, as Feishu's tokens are opaque strings. */
const pageToken = (index: number) => Buffer.from(`task:${index}`).toString('base64url');

function pageStart(token: unknown): number {
  if (token === undefined || token === '') return 0;
  const match =
    typeof token === 'string' ? /^task:(\d+)$/.exec(Buffer.from(token, 'base64url').toString()) : null;
  if (!match) throw openApi.fieldValidation('page_token', 'page_token is invalid');
  return Number(match[1]);
}

function pageSize(value: unknown): number {
  if (value === undefined) return 50;
  const size = typeof value === 'string' && /^\d+$/.test(value) ? Number(value) : Number.NaN;
  if (!(size >= 1 && size <= 100)) throw openApi.fieldValidation('page_size', 'page_size must be 1 to 100');
  return size;
}

/**
 * Task v2 with a user token: create a task, list the user's tasks page by page. The user-token
 * APIs the proxy forwards to in tests and benchmarks, with the same token checks as user_info.
 */
export function registerTaskRoutes(router: Router, rt: Runtime): void {
  router.post('/open-apis/task/v2/tasks', async (ctx) => {
    const owner = taskOwner(rt, ctx, WRITE);
    const body = await jsonBody(ctx);
    const summary = body?.summary;
    if (typeof summary !== 'string' || summary.length === 0 || summary.length > MAX_SUMMARY)
      throw openApi.fieldValidation('summary', `summary must be 1 to ${MAX_SUMMARY} characters`);
    const task: Task = {
      guid: `${randomHex(4)}-${randomHex(2)}-${randomHex(2)}-${randomHex(2)}-${randomHex(6)}`,
      summary,
      description: typeof body?.description === 'string' ? body.description : '',
      createdAt: Date.now(),
      creatorOpenId: openIdFor(owner.app.appId, owner.user),
    };
    tasksOf(rt, owner).push(task);
    ok(ctx, { task: view(task) });
  });
  router.get('/open-apis/task/v2/tasks', (ctx) => {
    const owner = taskOwner(rt, ctx, READ);
    const size = pageSize(ctx.query.page_size);
    const start = pageStart(ctx.query.page_token);
    const tasks = tasksOf(rt, owner);
    const items = tasks.slice(start, start + size).map(view);
    const hasMore = start + size < tasks.length;
    ok(ctx, { items, has_more: hasMore, ...(hasMore && { page_token: pageToken(start + size) }) });
  });
}
