import { randomBytes } from 'node:crypto';
import { Webhook } from 'standardwebhooks';

/** The Standard Webhooks secret format: `whsec_` and the base64 of the HMAC key. */
const PREFIX = 'whsec_';
const SECRET_BYTES = 32;
/** A shorter key could be guessed offline from one signed request. */
const MIN_SECRET_BYTES = 24;

export function newSigningSecret(): string {
  return PREFIX + randomBytes(SECRET_BYTES).toString('base64');
}

/** Why a configured secret is unusable, or undefined when it is fine. Never echoes the secret. */
export function signingSecretProblem(secret: string): string | undefined {
  if (!secret.startsWith(PREFIX)) return `must start with ${PREFIX}`;
  const body = secret.slice(PREFIX.length);
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body) || Buffer.from(body, 'base64').length < MIN_SECRET_BYTES) {
    return `must be ${PREFIX} and the base64 of at least ${MIN_SECRET_BYTES} random bytes`;
  }
  return undefined;
}

export interface SignedHeaders {
  'webhook-id': string;
  'webhook-timestamp': string;
  'webhook-signature': string;
}

/**
 * Standard Webhooks headers for one delivery: one `v1,` signature per valid secret, space
 * separated, so a receiver that knows either secret of a rotation accepts it.
 */
export function signWebhook(
  eventId: string,
  body: string,
  secrets: readonly string[],
  at: Date,
): SignedHeaders {
  if (secrets.length === 0) throw new Error('a webhook needs at least one signing secret');
  return {
    'webhook-id': eventId,
    'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
    'webhook-signature': secrets.map((secret) => new Webhook(secret).sign(eventId, at, body)).join(' '),
  };
}
