import { avatarPath } from '../avatars.ts';
import type { App, User } from '../config.ts';
import { escapeHtml, page } from '../html.ts';

const CSS = `
.app{display:flex;align-items:center;gap:12px;margin-bottom:18px}
.app-icon{width:44px;height:44px;border-radius:10px;background:#3370ff;color:#fff;display:flex;align-items:center;justify-content:center;font-weight:600;font-size:20px}
h1{font-size:18px;margin:0}
ul.scopes{padding-left:18px;margin:8px 0 18px;font-size:14px;line-height:1.8}
.users{display:flex;flex-direction:column;gap:8px;margin:8px 0 22px}
.users label{display:flex;align-items:center;gap:10px;border:1px solid #e4e5e7;border-radius:8px;padding:8px 10px;cursor:pointer}
.users label:has(input:checked){border-color:#3370ff;background:#f0f4ff}
.users img{width:32px;height:32px;border-radius:50%}
.actions{display:flex;gap:10px;justify-content:flex-end}
.code{font-family:ui-monospace,monospace;font-size:22px;letter-spacing:3px;text-align:center;margin:10px 0 18px}
`;

export function errorPage(code: number, message: string): string {
  return page(
    `Error ${code}`,
    `<div class="panel"><h1>授权失败 · Authorization error</h1>
<p>错误码 <b data-error-code="${code}">${code}</b></p><p>${escapeHtml(message)}</p></div>`,
  );
}

export interface ConsentPageInput {
  app: App;
  scopes: string[];
  users: User[];
  selectedUserKey: string | undefined;
  /** Where the form goes and what it carries back, so the decision is validated like the request. */
  action: string;
  hidden: Record<string, string>;
  userCode?: string;
}

/** The page a person sees in Feishu's browser: pick who you are, approve or deny. */
export function consentPage(input: ConsentPageInput): string {
  const selected = input.selectedUserKey ?? input.users[0]?.key;
  const hidden = Object.entries(input.hidden)
    .map(([name, value]) => `<input type="hidden" name="${escapeHtml(name)}" value="${escapeHtml(value)}">`)
    .join('');
  const users = input.users
    .map(
      (
        u,
      ) => `<label><input type="radio" name="user" value="${escapeHtml(u.key)}"${u.key === selected ? ' checked' : ''}>
<img src="${avatarPath(u)}" alt=""><span>${escapeHtml(u.name)} <span class="muted">${escapeHtml(u.enName)}</span></span></label>`,
    )
    .join('');
  const scopes = input.scopes.map((s) => `<li><code>${escapeHtml(s)}</code></li>`).join('');
  return page(
    `授权 ${input.app.name}`,
    `<div class="panel"><div class="app"><div class="app-icon">${escapeHtml(Array.from(input.app.name)[0] ?? 'A')}</div>
<div><h1>${escapeHtml(input.app.name)} 请求授权</h1><div class="muted">${escapeHtml(input.app.appId)}</div></div></div>
${input.userCode ? `<div class="muted">确认设备上显示的代码 · Confirm the code shown on the device</div><div class="code">${escapeHtml(input.userCode)}</div>` : ''}
<form method="post" action="${escapeHtml(input.action)}">${hidden}
<div class="muted">以此身份登录 · Continue as</div><div class="users">${users}</div>
<div class="muted">将获得以下权限 · The app will be able to</div><ul class="scopes">${scopes || '<li>基本信息 · basic profile</li>'}</ul>
<div class="actions"><button class="btn" name="decision" value="deny" id="deny">拒绝 Deny</button>
<button class="btn primary" name="decision" value="approve" id="approve">授权 Authorize</button></div></form></div>`,
    `<style>${CSS}</style>`,
  );
}

/** RFC 8628's verification_uri without a code: the person types what the device shows. */
export function userCodePage(action: string): string {
  return page(
    '输入代码 · Enter code',
    `<div class="panel"><h1>输入设备上显示的代码 · Enter the code shown on your device</h1>
<form method="get" action="${escapeHtml(action)}"><p><input name="user_code" autofocus placeholder="ABCD-EFGH"
style="font-size:20px;letter-spacing:2px;padding:8px;width:100%"></p><button class="btn primary">继续 Continue</button></form></div>`,
  );
}

export function donePage(title: string, message: string): string {
  return page(title, `<div class="panel"><h1>${escapeHtml(title)}</h1><p>${escapeHtml(message)}</p></div>`);
}
