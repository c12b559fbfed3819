import { avatarPath } from '../avatars.ts';
import type { App, User } from '../config.ts';
import { escapeHtml, page } from '../html.ts';
import { CLIENT_SCRIPT } from './client-script.ts';
import { CHAT_CSS } from './styles.ts';

export interface ChatPageInput {
  app: App;
  users: Array<{ user: User; openId: string }>;
  current: { user: User; openId: string };
}

/** JSON inside a <script> block: `<` escaped so no string can close the block. */
const inlineJson = (value: unknown): string => JSON.stringify(value).replace(/</g, '\\u003c');

export function chatPage({ app, users, current }: ChatPageInput): string {
  const contacts = users
    .map(
      ({
        user,
        openId,
      }) => `<a class="contact${openId === current.openId ? ' active' : ''}" data-open-id="${escapeHtml(openId)}"
href="/chat/${encodeURIComponent(openId)}?app_id=${encodeURIComponent(app.appId)}"><img src="${avatarPath(user)}" alt="">
<div><div>${escapeHtml(user.name)}</div><div class="muted">${escapeHtml(user.enName)}</div></div><span class="dot"></span></a>`,
    )
    .join('');
  const data = {
    appId: app.appId,
    openId: current.openId,
    botName: app.name,
    users: users.map(({ user, openId }) => ({ openId, name: user.name, avatar: avatarPath(user) })),
  };
  return page(
    `${app.name} · ${current.user.name}`,
    `<div class="layout"><nav class="contacts"><h2>飞书 Sandbox · 以谁的身份 (you are)</h2>${contacts}</nav>
<main class="conversation"><div class="conv-header"><div class="bot-avatar">${escapeHtml(Array.from(app.name)[0] ?? 'B')}</div>
<div><b>${escapeHtml(app.name)}</b><div class="muted">${escapeHtml(app.appId)} · ${escapeHtml(app.callback.mode)} callbacks · chatting as ${escapeHtml(current.user.name)}</div></div></div>
<div class="messages" id="messages"></div>
<form class="composer" id="composer"><input id="composer-input" autocomplete="off" placeholder="发消息给 ${escapeHtml(app.name)} (e.g. 授权 or /auth)">
<button class="btn primary" type="submit">Send</button></form></main></div>
<div class="toast" id="toast" role="status"></div>
<script type="application/json" id="chat-data">${inlineJson(data)}</script>
<script>${CLIENT_SCRIPT}</script>`,
    `<style>${CHAT_CSS}</style>`,
  );
}
