import { createHash, timingSafeEqual } from 'node:crypto';
import type { AuthCode } from '../store.ts';

/** RFC 7636: plain compares as is, S256 compares base64url(sha256(verifier)). */
export function verifierMatches(challenge: NonNullable<AuthCode['challenge']>, verifier: string): boolean {
  const derived =
    challenge.method === 'S256' ? createHash('sha256').update(verifier).digest('base64url') : verifier;
  const a = Buffer.from(derived);
  const b = Buffer.from(challenge.value);
  return a.length === b.length && timingSafeEqual(a, b);
}
