import type { User } from './config.ts';
import { escapeHtml } from './html.ts';
import { stableHex } from './ids.ts';

const COLORS = ['#3370ff', '#00b96b', '#ff8800', '#7f3bf5', '#f54a45', '#14c0ff'];

export const avatarPath = (user: User): string => `/__sandbox/avatars/${encodeURIComponent(user.key)}.svg`;

/** A coloured disc with the first character of the name, like Feishu's default avatars. */
export function avatarSvg(user: User): string {
  const color = COLORS[parseInt(stableHex(user.key, 2), 16) % COLORS.length]!;
  const initial = escapeHtml(Array.from(user.name)[0] ?? '?');
  return `<svg xmlns="http://www.w3.org/2000/svg" width="240" height="240" viewBox="0 0 240 240"><circle cx="120" cy="120" r="120" fill="${color}"/><text x="120" y="120" dy=".35em" text-anchor="middle" font-family="sans-serif" font-size="110" fill="#fff">${initial}</text></svg>`;
}

/** The four avatar fields of user_info; sizes are query parameters because the image scales anyway. */
export function avatarUrls(baseUrl: string, user: User) {
  const url = `${baseUrl}${avatarPath(user)}`;
  return {
    avatar_url: url,
    avatar_thumb: `${url}?size=72`,
    avatar_middle: `${url}?size=240`,
    avatar_big: `${url}?size=640`,
  };
}
