import { randomBytes } from 'node:crypto';
import sodium from 'libsodium-wrappers';
import type { KeyRingEntry } from './config.ts';

/** What a ciphertext is bound to: decrypting it as another app, user or kind fails. */
export interface SealContext {
  appId: string;
  openId: string;
  kind:
    | 'access_token'
    | 'refresh_token'
    | 'oauth_state'
    | 'pkce_verifier'
    | 'oauth_code'
    | 'webhook_secret'
    | 'device_code';
}

export interface Sealed {
  keyId: string;
  /** nonce ‖ ciphertext ‖ tag */
  box: Buffer;
}

export class DecryptError extends Error {
  override name = 'DecryptError';
}

let ready: Promise<void> | undefined;

/**
 * A fresh XChaCha20-Poly1305 nonce from Node's CSPRNG in one call. libsodium.js's randombytes_buf
 * draws its bytes four at a time through WebCrypto: under load that alone was 3–5 % of the
 * worker's and the API's CPU (docs/performance.md).
 */
export function newNonce(): Buffer {
  return randomBytes(sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES);
}

/** libsodium initialises asynchronously once per process. */
export function sodiumReady(): Promise<void> {
  ready ??= sodium.ready;
  return ready;
}

function associatedData({ appId, openId, kind }: SealContext): Uint8Array {
  return sodium.from_string(JSON.stringify(['feishu-user-auth/v1', appId, openId, kind]));
}

/**
 * XChaCha20-Poly1305 with a key ring: the first key seals, any key opens, so keys rotate online.
 * Callers must await sodiumReady() once before use.
 */
export class TokenCipher {
  private readonly byId: Map<string, Uint8Array>;

  constructor(private readonly ring: KeyRingEntry[]) {
    if (ring.length === 0) throw new Error('the token key ring is empty');
    this.byId = new Map(ring.map((k) => [k.id, k.key]));
  }

  get activeKeyId(): string {
    return this.ring[0]!.id;
  }

  seal(plaintext: string, context: SealContext): Sealed {
    const active = this.ring[0]!;
    const nonce = newNonce();
    const ciphertext = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
      sodium.from_string(plaintext),
      associatedData(context),
      null,
      nonce,
      active.key,
    );
    return { keyId: active.id, box: Buffer.concat([nonce, ciphertext]) };
  }

  open(sealed: Sealed, context: SealContext): string {
    const key = this.byId.get(sealed.keyId);
    if (!key) throw new DecryptError(`no key "${sealed.keyId}" in the ring`);
    const nonceBytes = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    try {
      const plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        sealed.box.subarray(nonceBytes),
        associatedData(context),
        sealed.box.subarray(0, nonceBytes),
        key,
      );
      return sodium.to_string(plaintext);
    } catch {
      throw new DecryptError(`ciphertext does not open with key "${sealed.keyId}" for this ${context.kind}`);
    }
  }
}
