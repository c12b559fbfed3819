import type { Context } from 'koa';
import { OpenApiError } from '../errors.ts';

const LIMIT_BYTES = 1024 * 1024;

/** The raw bytes, read once: callbacks and signatures care about exact bytes, and bad JSON must map to a Feishu code rather than a parser's 400. */
export async function rawBody(ctx: Context): Promise<Buffer> {
  const cached = ctx.state.rawBody as Buffer | undefined;
  if (cached) return cached;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > LIMIT_BYTES) {
      // The rest of the body stays unread: the connection cannot be reused.
      throw new OpenApiError(413, 413, 'request entity too large', {}, { connection: 'close' });
    }
    chunks.push(chunk);
  }
  const body = Buffer.concat(chunks);
  ctx.state.rawBody = body;
  return body;
}

export type Json = null | boolean | number | string | Json[] | { [key: string]: Json };

export function parseJson(text: string): Json | undefined {
  try {
    return JSON.parse(text) as Json;
  } catch {
    return undefined;
  }
}

export const isObject = (value: unknown): value is Record<string, Json> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

/** JSON object body; undefined when the body is not one. */
export async function jsonBody(ctx: Context): Promise<Record<string, Json> | undefined> {
  const raw = await rawBody(ctx);
  const parsed = raw.length === 0 ? {} : parseJson(raw.toString('utf8'));
  return isObject(parsed) ? parsed : undefined;
}

/** OAuth endpoints take JSON (what the SDK sends) or a form (what RFC 6749 clients send); string values only. */
export async function paramsBody(ctx: Context): Promise<Record<string, string> | undefined> {
  const raw = (await rawBody(ctx)).toString('utf8');
  if (ctx.is('application/x-www-form-urlencoded')) return Object.fromEntries(new URLSearchParams(raw));
  const parsed = raw.trim() === '' ? {} : parseJson(raw);
  if (!isObject(parsed)) return undefined;
  const params: Record<string, string> = {};
  for (const [key, value] of Object.entries(parsed)) {
    if (value === null) continue;
    params[key] = typeof value === 'string' ? value : JSON.stringify(value);
  }
  return params;
}
