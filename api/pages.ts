import { FAILURE_WORDS } from '../lib/cards/text.ts';
import type { Locale, Text } from '../lib/i18n.ts';
import type { FailureReason } from '../lib/grant-types.ts';

export type PageOutcome =
  | { kind: 'authorized'; userName: string }
  | {
      kind:
        | 'denied'
        | 'expired'
        | 'cancelled'
        | 'identity_mismatch'
        | 'already_completed'
        | 'invalid_link'
        | 'busy';
    }
  | { kind: 'failed'; reason: FailureReason };

const PAGE: Record<Exclude<PageOutcome['kind'], 'authorized' | 'failed'>, { title: Text; body: Text }> = {
  denied: {
    title: { zh_cn: '已拒绝授权', en_us: 'You declined' },
    body: {
      zh_cn: '机器人不会以你的身份操作。可以关闭此页面。',
      en_us: 'The bot will not act on your behalf. You can close this page.',
    },
  },
  expired: {
    title: { zh_cn: '授权请求已过期', en_us: 'This request has expired' },
    body: {
      zh_cn: '请回到飞书，在卡片上点击“重试”。',
      en_us: 'Go back to Feishu and press “Try again” on the card.',
    },
  },
  cancelled: {
    title: { zh_cn: '授权请求已取消', en_us: 'This request was cancelled' },
    body: {
      zh_cn: '如仍需授权，请回到飞书重新发起。',
      en_us: 'If you still want to authorize, start again from Feishu.',
    },
  },
  identity_mismatch: {
    title: { zh_cn: '授权账号不匹配', en_us: 'Wrong account' },
    body: {
      zh_cn: '你登录的账号不是收到授权卡片的账号，本次授权未保存。',
      en_us:
        'You signed in with a different account from the one the card was sent to, so nothing was saved.',
    },
  },
  already_completed: {
    title: { zh_cn: '此授权已完成', en_us: 'Already completed' },
    body: {
      zh_cn: '这个授权链接已经使用过了，可以关闭此页面。',
      en_us: 'This authorization link was already used. You can close this page.',
    },
  },
  invalid_link: {
    title: { zh_cn: '无效的授权链接', en_us: 'Invalid link' },
    body: {
      zh_cn: '此链接无效或已损坏，请从飞书卡片重新打开。',
      en_us: 'This link is invalid or damaged. Open it again from the card in Feishu.',
    },
  },
  busy: {
    title: { zh_cn: '服务繁忙', en_us: 'Please try again' },
    body: {
      zh_cn: '暂时无法完成授权，请稍后刷新此页面。',
      en_us: 'We could not finish just now. Reload this page in a moment.',
    },
  },
};

const escapeHtml = (s: string) =>
  s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

function words(outcome: PageOutcome): { title: Text; body: Text; tone: 'ok' | 'info' | 'error' } {
  switch (outcome.kind) {
    case 'authorized':
      return {
        title: { zh_cn: '授权成功', en_us: 'Authorized' },
        body: {
          zh_cn: `已授权账号：${outcome.userName}。可以回到飞书了。`,
          en_us: `Authorized as ${outcome.userName}. You can go back to Feishu.`,
        },
        tone: 'ok',
      };
    case 'failed':
      return {
        title: { zh_cn: '授权失败', en_us: 'Authorization failed' },
        body: FAILURE_WORDS[outcome.reason],
        tone: 'error',
      };
    default:
      return {
        ...PAGE[outcome.kind],
        tone: outcome.kind === 'denied' || outcome.kind === 'cancelled' ? 'info' : 'error',
      };
  }
}

/** The small page a browser lands on after Feishu's consent screen. */
export function renderOutcomePage(outcome: PageOutcome, locale: Locale): string {
  const { title, body, tone } = words(outcome);
  const color = { ok: '#16a34a', info: '#64748b', error: '#dc2626' }[tone];
  return `<!doctype html>
<html lang="${locale === 'zh_cn' ? 'zh-CN' : 'en'}"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title[locale])}</title>
<style>body{font-family:system-ui,-apple-system,"PingFang SC",sans-serif;background:#f5f6f7;margin:0;display:flex;min-height:100vh;align-items:center;justify-content:center}
main{background:#fff;border-radius:12px;box-shadow:0 2px 12px #0001;padding:32px 40px;max-width:420px;text-align:center}
h1{font-size:20px;color:${color};margin:0 0 12px}p{color:#1f2329;line-height:1.6;margin:0}</style></head>
<body><main data-outcome="${outcome.kind}"><h1>${escapeHtml(title[locale])}</h1><p>${escapeHtml(body[locale])}</p></main></body></html>`;
}
