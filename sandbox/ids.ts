import { createHash, randomBytes, randomUUID } from 'node:crypto';

export const randomHex = (bytes: number): string => randomBytes(bytes).toString('hex');

export const stableHex = (input: string, chars: number): string =>
  createHash('sha256').update(input).digest('hex').slice(0, chars);

export const newMessageId = (): string => `om_${randomHex(16)}`;
export const newEventId = (): string => randomHex(16);
export const newUuid = (): string => randomUUID();

const b64url = (value: string | Buffer): string => Buffer.from(value).toString('base64url');

/**
 * Feishu's v2/v3 user tokens are JWTs of 1–2 KB. Ours have the same look and size so that a service
 * storing them in a too-small column or logging them by accident fails here, not in production.
 * Nothing verifies the signature: tokens are looked up by value.
 */
export function jwtLikeToken(claims: Record<string, unknown>): string {
  const header = b64url(JSON.stringify({ alg: 'ES256', kid: 'sandbox', typ: 'JWT' }));
  const payload = b64url(
    JSON.stringify({ ...claims, jti: randomUUID(), pad: randomBytes(420).toString('base64url') }),
  );
  return `${header}.${payload}.${randomBytes(64).toString('base64url')}`;
}
