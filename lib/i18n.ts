import type { Locale } from './grant-types.ts';

/** The two languages the service speaks; cards carry both, pages pick by Accept-Language. */
export type { Locale };

export interface Text {
  zh_cn: string;
  en_us: string;
}

const SCOPE_WORDS: Record<string, Text> = {
  offline_access: { zh_cn: '在你离线时保持授权', en_us: 'Stay authorized while you are away' },
  'contact:user.base:readonly': { zh_cn: '读取你的基本信息', en_us: 'Read your basic profile' },
  'contact:user.email:readonly': { zh_cn: '读取你的邮箱', en_us: 'Read your email address' },
  'im:message': { zh_cn: '以你的身份收发消息', en_us: 'Send and read messages as you' },
  'im:message:readonly': { zh_cn: '读取你的消息', en_us: 'Read your messages' },
  'calendar:calendar': { zh_cn: '管理你的日历', en_us: 'Manage your calendars' },
  'calendar:calendar:readonly': { zh_cn: '查看你的日历', en_us: 'View your calendars' },
  'docx:document': { zh_cn: '编辑你的文档', en_us: 'Edit your documents' },
  'docx:document:readonly': { zh_cn: '查看你的文档', en_us: 'View your documents' },
  'drive:drive': { zh_cn: '管理你的云空间文件', en_us: 'Manage your Drive files' },
  'drive:drive:readonly': { zh_cn: '查看你的云空间文件', en_us: 'View your Drive files' },
  'task:task': { zh_cn: '管理你的任务', en_us: 'Manage your tasks' },
};

/** A scope in words; unknown scopes are shown as they are, so nothing asked for is hidden. */
export function describeScope(scope: string): Text {
  return SCOPE_WORDS[scope] ?? { zh_cn: scope, en_us: scope };
}

/** Picks zh_cn or en_us from an Accept-Language header; Chinese is the default. */
export function localeFromAcceptLanguage(header: string | undefined): Locale {
  const ranked = (header ?? '')
    .split(',')
    .map((part) => {
      const [tag = '', ...params] = part.trim().toLowerCase().split(';');
      const q = Number(params.find((p) => p.trim().startsWith('q='))?.split('=')[1] ?? 1);
      return { tag, q: Number.isFinite(q) ? q : 0 };
    })
    .filter((l) => l.tag && l.q > 0)
    .sort((a, b) => b.q - a.q);
  for (const { tag } of ranked) {
    if (tag.startsWith('zh')) return 'zh_cn';
    if (tag.startsWith('en')) return 'en_us';
  }
  return 'zh_cn';
}
