/**
 * The Feishu path a proxied request names, checked so that it can only ever address an open API on
 * the configured Feishu domain: whatever a caller sends, the request goes to FEISHU_DOMAIN +
 * `/open-apis/…`, never to another host and never to a path outside `/open-apis/`.
 */

/** Why a path was refused, for the caller's 400. */
export class ProxyPathError extends Error {}

/** Characters a path segment may hold as they are: RFC 3986 pchar without `%`, which is checked apart. */
const SEGMENT = /^(?:[A-Za-z0-9\-._~!$&'()*+,;=:@]|%[0-9A-Fa-f]{2})+$/;

/**
 * Escapes a caller has no reason to send and that could make the path mean something else once
 * decoded further along: `/`, `\`, and unreserved characters (`%2e%2e` is `..`, and `%61` would
 * slip past an allow-list prefix), and control bytes.
 */
function hasRefusedEscape(segment: string): boolean {
  for (const [, hex] of segment.matchAll(/%([0-9A-Fa-f]{2})/g)) {
    const byte = Number.parseInt(hex!, 16);
    if (byte < 0x20 || byte === 0x7f || /[A-Za-z0-9\-._~/\\]/.test(String.fromCharCode(byte))) return true;
  }
  return false;
}

const PREFIX = '/open-apis/';

/**
 * Checks the raw (still percent-encoded) path that follows `/proxy`, and returns it unchanged.
 * Refuses anything but `/open-apis/` followed by non-empty segments: no `.` or `..`, no empty
 * segments (`//`), no backslashes, no encoded slashes, dots or letters, no scheme or host.
 */
export function checkedFeishuPath(raw: string): string {
  if (!raw.startsWith(PREFIX)) throw new ProxyPathError('the path must start with /open-apis/');
  const segments = raw.slice(1).split('/');
  for (const segment of segments) {
    if (segment === '') throw new ProxyPathError('the path has an empty segment (// or a trailing /)');
    if (segment === '.' || segment === '..') throw new ProxyPathError('the path has a . or .. segment');
    if (!SEGMENT.test(segment)) throw new ProxyPathError('the path has a character that must not be there');
    if (hasRefusedEscape(segment))
      throw new ProxyPathError('the path encodes a character that must be sent as it is (or not at all)');
  }
  return raw;
}

/** Segments kept as they are in the audit stream: API words (`user_info`) and versions (`v4`). */
const WORD = /^(?:v\d{1,2}|[a-z]{1,30}(?:[_-][a-z]{1,30}){0,5})$/;

/**
 * The path with the ids in it replaced by `:id`, for the audit stream and logs: which API was
 * called is kept, which message, calendar or document it was called on is not.
 */
export function pathTemplate(path: string): string {
  return path
    .split('/')
    .map((segment, i) => (i === 0 || WORD.test(segment) ? segment : ':id'))
    .join('/');
}

/**
 * The URL on the Feishu domain for a checked path and the raw query string. Parsed back and
 * compared as a last guard: the origin and path must be exactly those it was built from.
 */
export function feishuUrl(domain: string, path: string, query: string): URL {
  const base = new URL(domain);
  const expectedPath = `${base.pathname.replace(/\/+$/, '')}${path}`;
  const url = new URL(`${base.origin}${expectedPath}${query ? `?${query}` : ''}`);
  if (url.origin !== base.origin || url.pathname !== expectedPath) {
    throw new ProxyPathError('the path does not stay on the Feishu domain');
  }
  return url;
}
