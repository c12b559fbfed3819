import type Router from '@koa/router';
import { requireTenantToken } from './app-tokens.ts';
import { openIdFor } from './config.ts';
import { OpenApiError, openApi } from './errors.ts';
import { randomHex } from './ids.ts';
import { ok } from './http/respond.ts';
import type { Runtime } from './runtime.ts';
import type { SandboxChatOptions } from './types.ts';

const MAX_PAGE_SIZE = 100;
const DEFAULT_PAGE_SIZE = 20;

/** Creates a group chat with the bot in it; returns its chat_id. */
export function createChat(rt: Runtime, options: SandboxChatOptions): string {
  const appId = options.appId ?? rt.config.apps[0]!.appId;
  if (!rt.store.app(appId)) throw new Error(`sandbox: no app ${appId}`);
  const memberKeys = options.members.map((member) => {
    const user = typeof member === 'number' ? rt.config.users[member] : rt.store.userByOpenId(appId, member);
    if (!user) throw new Error(`sandbox: no user ${member}`);
    return user.key;
  });
  const chatId = options.chatId ?? `oc_${randomHex(16)}`;
  rt.store.chats.set(chatId, { chatId, appId, name: options.name ?? 'Sandbox group', memberKeys });
  return chatId;
}

/** The sandbox's own answer for a chat the bot is not in (Feishu's exact code here is unverified). */
const chatNotFound = () => new OpenApiError(400, 232011, 'The bot is not in the chat, or it does not exist.');

/** GET /open-apis/im/v1/chats/:chat_id/members: the chat's users, a page at a time, as open_ids. */
export function registerChatRoutes(router: Router, rt: Runtime): void {
  router.get('/open-apis/im/v1/chats/:chat_id/members', (ctx) => {
    const app = requireTenantToken(rt, ctx);
    const chat = rt.store.chats.get(ctx.params.chat_id!);
    if (!chat || chat.appId !== app.appId) throw chatNotFound();
    const idType = ctx.query.member_id_type ?? 'open_id';
    if (idType !== 'open_id')
      throw openApi.fieldValidation('member_id_type', 'the sandbox serves open_id only');
    const size = Number(ctx.query.page_size ?? DEFAULT_PAGE_SIZE);
    if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE)
      throw openApi.fieldValidation('page_size', `page_size must be 1..${MAX_PAGE_SIZE}`);
    const start = ctx.query.page_token ? Number(ctx.query.page_token) : 0;
    if (!Number.isInteger(start) || start < 0)
      throw openApi.fieldValidation('page_token', 'invalid page_token');
    const members = chat.memberKeys.map((key) => rt.store.user(key)!).filter((u) => u.status !== 'deleted');
    const page = members.slice(start, start + size);
    const next = start + page.length;
    ok(ctx, {
      items: page.map((user) => ({
        member_id_type: 'open_id',
        member_id: openIdFor(app.appId, user),
        name: user.name,
        tenant_key: rt.config.tenantKey,
      })),
      has_more: next < members.length,
      page_token: next < members.length ? String(next) : '',
      member_total: members.length,
    });
  });
}
