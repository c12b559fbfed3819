import { describe, expect, it } from 'vitest';
import { ProxyPathError, checkedFeishuPath, feishuUrl, pathTemplate } from '../../api/proxy/path.ts';
import { parseProxyRule, proxyAllows, type ProxyRule } from '../../lib/proxy-allow-list.ts';

describe('the proxied Feishu path', () => {
  it('takes open API paths as they are sent, ids and escapes of other characters included', () => {
    for (const path of [
      '/open-apis/authen/v1/user_info',
      '/open-apis/im/v1/messages/om_0123abcd/reactions',
      '/open-apis/calendar/v4/calendars/feishu.cn_abc@group.calendar.feishu.cn/events',
      '/open-apis/drive/v1/files/a%20b%E4%BD%A0',
    ]) {
      expect(checkedFeishuPath(path)).toBe(path);
    }
  });

  it('refuses whatever could leave /open-apis/ or mean another path once decoded', () => {
    for (const path of [
      '/v1/users/ou_x/token',
      '/open-apis',
      '/open-apis/',
      '/open-apis/../v1',
      '/open-apis/./authen',
      '/open-apis/authen/..',
      '/open-apis//host/x',
      '/open-apis/authen/',
      '/open-apis/%2e%2e/x',
      '/open-apis/%2E/x',
      '/open-apis/a%2fb',
      '/open-apis/a%5Cb',
      '/open-apis/a\\b',
      '/open-apis/%61uthen',
      '/open-apis/a%00',
      '/open-apis/a%7f',
      '/open-apis/a%zz',
      '/open-apis/a b',
      '/open-apis/a#b',
      '/open-apis/a?b',
      '/open-apisx/a',
    ]) {
      expect(() => checkedFeishuPath(path), path).toThrow(ProxyPathError);
    }
  });

  it('builds the URL on the configured domain only', () => {
    const url = feishuUrl('https://open.feishu.cn', '/open-apis/task/v2/tasks', 'page_size=2&x=%2F');
    expect(url.href).toBe('https://open.feishu.cn/open-apis/task/v2/tasks?page_size=2&x=%2F');
    expect(feishuUrl('http://127.0.0.1:3100', '/open-apis/@evil.example/x', '').host).toBe('127.0.0.1:3100');
  });

  it('names the API in the audit stream, not the ids it was called on', () => {
    expect(pathTemplate('/open-apis/authen/v1/user_info')).toBe('/open-apis/authen/v1/user_info');
    expect(pathTemplate('/open-apis/im/v1/messages/om_3f9a0c/reactions')).toBe(
      '/open-apis/im/v1/messages/:id/reactions',
    );
    expect(pathTemplate('/open-apis/contact/v3/users/ou_9a8b7c6d5e4f')).toBe(
      '/open-apis/contact/v3/users/:id',
    );
    expect(pathTemplate('/open-apis/drive/v1/files/12345/download')).toBe(
      '/open-apis/drive/v1/files/:id/download',
    );
  });
});

describe('a key allow-list (PROXY_ALLOW)', () => {
  const rules = (...texts: string[]) => texts.map((t) => parseProxyRule(t) as ProxyRule);

  it('allows a prefix of whole segments, for the methods it names', () => {
    const list = rules('GET,post /open-apis/task/v2/', '/open-apis/authen/v1/user_info');
    expect(proxyAllows(list, 'GET', '/open-apis/task/v2/tasks')).toBe(true);
    expect(proxyAllows(list, 'POST', '/open-apis/task/v2')).toBe(true);
    expect(proxyAllows(list, 'DELETE', '/open-apis/task/v2/tasks/x')).toBe(false);
    expect(proxyAllows(list, 'GET', '/open-apis/task/v20/tasks')).toBe(false);
    expect(proxyAllows(list, 'PATCH', '/open-apis/authen/v1/user_info')).toBe(true);
    expect(proxyAllows(list, 'GET', '/open-apis/authen/v1/user_info_x')).toBe(false);
    expect(proxyAllows(undefined, 'DELETE', '/open-apis/anything')).toBe(true);
    expect(proxyAllows([], 'GET', '/open-apis/authen/v1/user_info')).toBe(false);
  });

  it('refuses rules it cannot read, naming the rule', () => {
    for (const text of ['GET', 'GET /v1/users', 'TRACE /open-apis/x', 'GET /open-apis/../x', 'GET a b']) {
      expect(typeof parseProxyRule(text), text).toBe('string');
    }
  });
});
