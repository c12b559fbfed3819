import type { Logger } from '../logger.ts';

interface AxiosLike {
  isAxiosError?: boolean;
  message?: string;
  response?: { status?: number; data?: { code?: unknown } };
}

/**
 * The SDK logs whole AxiosErrors, whose config carries request bodies (client_secret, codes,
 * refresh tokens). This adapter keeps only status and Feishu code from errors and plain strings
 * otherwise, so nothing secret reaches our logs through the SDK.
 */
function describe(args: unknown[]): string {
  return args
    .map((arg) => {
      if (typeof arg === 'string') return arg.replace(/\b(u|t|a|ur)-[A-Za-z0-9._-]{10,}/g, '[redacted]');
      if (arg && typeof arg === 'object' && ('isAxiosError' in arg || arg instanceof Error)) {
        const e = arg as AxiosLike;
        const status = e.response?.status;
        const code = e.response?.data?.code;
        const feishuCode = typeof code === 'number' || typeof code === 'string' ? `, code ${code}` : '';
        return `request failed${status ? ` with HTTP ${status}` : ''}${feishuCode}`;
      }
      return '';
    })
    .filter(Boolean)
    .join(' ');
}

export function sdkLogger(logger: Logger) {
  const child = logger.child({ component: 'lark-sdk' });
  return {
    error: (...args: unknown[]) => child.error(describe(args)),
    warn: (...args: unknown[]) => child.warn(describe(args)),
    info: (...args: unknown[]) => child.info(describe(args)),
    debug: (...args: unknown[]) => child.debug(describe(args)),
    trace: (...args: unknown[]) => child.trace(describe(args)),
  };
}
