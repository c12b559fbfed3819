import { createCipheriv, createHash, randomBytes } from 'node:crypto';
import type { App } from '../config.ts';
import { randomHex } from '../ids.ts';

/** Feishu's event encryption: AES-256-CBC, key = SHA-256(encrypt key), random IV prepended, base64. */
export function encrypt(encryptKey: string, plaintext: string): string {
  const key = createHash('sha256').update(encryptKey).digest();
  const iv = randomBytes(16);
  const cipher = createCipheriv('aes-256-cbc', key, iv);
  return Buffer.concat([iv, cipher.update(plaintext, 'utf8'), cipher.final()]).toString('base64');
}

export const signature = (timestamp: string, nonce: string, encryptKey: string, body: string): string =>
  createHash('sha256')
    .update(timestamp + nonce + encryptKey + body)
    .digest('hex');

export interface HttpRequest {
  body: string;
  headers: Record<string, string>;
}

/** The exact bytes and headers Feishu sends: encrypted when the app has an Encrypt Key, signed over the raw body. */
export function buildRequest(app: App, payload: unknown): HttpRequest {
  const plain = JSON.stringify(payload);
  const key = app.callback.encryptKey;
  const body = key ? JSON.stringify({ encrypt: encrypt(key, plain) }) : plain;
  const timestamp = String(Math.floor(Date.now() / 1000));
  const nonce = randomHex(8);
  const headers: Record<string, string> = {
    'content-type': 'application/json; charset=utf-8',
    'user-agent': 'Lark-Sandbox/1.0',
    'x-request-id': randomHex(16),
    'x-lark-request-timestamp': timestamp,
    'x-lark-request-nonce': nonce,
  };
  if (key) headers['x-lark-signature'] = signature(timestamp, nonce, key, body);
  return { body, headers };
}

export interface HttpAnswer {
  status: number;
  body: unknown;
}

export async function post(url: string, request: HttpRequest, timeoutMs: number): Promise<HttpAnswer> {
  const response = await fetch(url, {
    method: 'POST',
    headers: request.headers,
    body: request.body,
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await response.text();
  let body: unknown = text;
  try {
    body = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: keep the text so the delivery log shows what the service said.
  }
  return { status: response.status, body };
}
