/** The methods the proxy forwards: those Feishu's open APIs use. */
export const PROXY_METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;

export type ProxyMethod = (typeof PROXY_METHODS)[number];

/** One entry of a key's allow-list: a path prefix, and the methods allowed under it. */
export interface ProxyRule {
  methods: readonly ProxyMethod[];
  /** Whole segments: `/open-apis/task/v2` allows `/open-apis/task/v2/tasks`, not `/open-apis/task/v20`. */
  prefix: string;
}

/** Per API key name; a key without an entry may proxy any open API. */
export type ProxyAllowLists = ReadonlyMap<string, readonly ProxyRule[]>;

const PREFIX = /^\/open-apis(?:\/[A-Za-z0-9_\-.~:@]+)*\/?$/;

/**
 * `"GET,POST /open-apis/task/v2"` or `"/open-apis/authen/v1/user_info"` (every method), as
 * PROXY_ALLOW spells a rule; the error message names what is wrong, never more.
 */
export function parseProxyRule(text: string): ProxyRule | string {
  const parts = text.trim().split(/\s+/);
  const [methodList, prefix] = parts.length === 1 ? ['*', parts[0]!] : parts;
  if (
    parts.length > 2 ||
    !prefix ||
    !PREFIX.test(prefix) ||
    prefix.split('/').some((s) => s === '..' || s === '.')
  )
    return `"${text}" must be "[METHODS] /open-apis/…" (a path prefix of whole segments)`;
  if (methodList === '*') return { methods: PROXY_METHODS, prefix: prefix.replace(/\/$/, '') };
  const methods = methodList!.split(',').map((m) => m.toUpperCase());
  const unknown = methods.find((m) => !(PROXY_METHODS as readonly string[]).includes(m));
  if (unknown !== undefined) return `"${text}": ${unknown} is not one of ${PROXY_METHODS.join(', ')} or *`;
  return { methods: methods as ProxyMethod[], prefix: prefix.replace(/\/$/, '') };
}

const under = (path: string, prefix: string) => path === prefix || path.startsWith(`${prefix}/`);

/** Whether a key's allow-list lets it send `method` to `path` (a path the proxy already checked). */
export function proxyAllows(rules: readonly ProxyRule[] | undefined, method: string, path: string): boolean {
  if (!rules) return true;
  return rules.some(
    (rule) => (rule.methods as readonly string[]).includes(method) && under(path, rule.prefix),
  );
}
