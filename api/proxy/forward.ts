import { Readable, Transform, pipeline } from 'node:stream';
import type { ReadableStream as WebReadableStream } from 'node:stream/web';
import { HttpError } from '../errors.ts';

/** Feishu's codes for a user token it no longer takes (docs/feishu-facts.md §6): refresh once, retry. */
const TOKEN_REFUSED: ReadonlySet<number> = new Set([99991677, 99991668]);

/** What of the caller's request reaches Feishu besides the body; never the caller's Authorization. */
const REQUEST_HEADERS = ['content-type', 'accept', 'accept-language'] as const;

/**
 * What of Feishu's answer reaches the caller: the body's type and file name, Feishu's log id (for
 * Feishu's support), and the rate-limit headers. Not Location (the proxy follows no redirect and
 * points the caller nowhere else), not cookies, not lengths or encodings (fetch has decoded the body).
 */
const passesBack = (name: string) =>
  ['content-type', 'content-disposition', 'x-tt-logid', 'retry-after'].includes(name) ||
  name.startsWith('x-ogw-ratelimit-');

export interface ProxiedRequest {
  method: string;
  url: URL;
  headers: Record<string, string | string[] | undefined>;
  body: Buffer | undefined;
  /** Aborts the call to Feishu when the caller goes away. */
  signal: AbortSignal;
}

export interface FeishuAnswer {
  status: number;
  headers: Record<string, string>;
  /** Buffered when it is an error Feishu explained in JSON, streamed otherwise. */
  body: Buffer | Readable;
  /** Feishu refused the user token as expired or invalid. */
  tokenRefused: boolean;
}

export interface ForwardLimits {
  timeoutMs: number;
  maxResponseBytes: number;
}

const tooLarge = (max: number) =>
  new HttpError(502, 'feishu_answer_too_large', `Feishu's answer is larger than ${max} bytes`);

/** Counts the bytes going through and fails the stream past the limit. */
function capped(max: number): Transform {
  let seen = 0;
  return new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      done(seen > max ? tooLarge(max) : null, chunk);
    },
  });
}

async function bufferedBody(response: Response, max: number): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let seen = 0;
  for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
    seen += chunk.length;
    if (seen > max) throw tooLarge(max);
    chunks.push(Buffer.from(chunk));
  }
  return Buffer.concat(chunks);
}

function feishuCode(body: Buffer): number | undefined {
  try {
    const code = (JSON.parse(body.toString('utf8')) as { code?: unknown }).code;
    return typeof code === 'number' ? code : undefined;
  } catch {
    return undefined;
  }
}

/** The error fetch threw may carry the URL and request details: the caller hears only what happened. */
function failedCall(timeout: AbortSignal, timeoutMs: number): HttpError {
  if (timeout.aborted)
    return new HttpError(504, 'feishu_timeout', `Feishu did not answer within ${timeoutMs / 1000} s`);
  return new HttpError(502, 'feishu_unreachable', 'Feishu could not be reached');
}

/**
 * One call to Feishu with the user's token. The token goes into this request's Authorization
 * header and nowhere else: not into errors, logs or the answer.
 */
export async function callFeishu(
  request: ProxiedRequest,
  accessToken: string,
  { timeoutMs, maxResponseBytes }: ForwardLimits,
): Promise<FeishuAnswer> {
  const headers: Record<string, string> = { authorization: `Bearer ${accessToken}` };
  for (const name of REQUEST_HEADERS) {
    const value = request.headers[name];
    if (typeof value === 'string') headers[name] = value;
  }
  const timeout = AbortSignal.timeout(timeoutMs);
  let response: Response;
  try {
    response = await fetch(request.url, {
      method: request.method,
      headers,
      body: request.body && request.body.length > 0 ? request.body : undefined,
      redirect: 'manual',
      signal: AbortSignal.any([timeout, request.signal]),
    });
  } catch {
    throw failedCall(timeout, timeoutMs);
  }
  const answerHeaders: Record<string, string> = {};
  response.headers.forEach((value, name) => {
    if (passesBack(name)) answerHeaders[name] = value;
  });
  const declared = Number(response.headers.get('content-length') ?? 0);
  if (declared > maxResponseBytes) {
    await response.body?.cancel();
    throw tooLarge(maxResponseBytes);
  }
  const explainedError =
    response.status >= 400 && (response.headers.get('content-type') ?? '').includes('json');
  if (explainedError || !response.body) {
    const body = response.body
      ? await bufferedBody(response, maxResponseBytes).catch((err: unknown) => {
          throw err instanceof HttpError ? err : failedCall(timeout, timeoutMs);
        })
      : Buffer.alloc(0);
    const code = explainedError ? feishuCode(body) : undefined;
    return {
      status: response.status,
      headers: answerHeaders,
      body,
      tokenRefused: code !== undefined && TOKEN_REFUSED.has(code),
    };
  }
  const stream = capped(maxResponseBytes);
  // A failure on either side (a timeout, the cap) ends the caller's answer: it cannot be taken back.
  pipeline(Readable.fromWeb(response.body as WebReadableStream<Uint8Array>), stream, () => {});
  return { status: response.status, headers: answerHeaders, body: stream, tokenRefused: false };
}
