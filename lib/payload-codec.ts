import {
  METADATA_ENCODING_KEY,
  ValueError,
  type Payload,
  type PayloadCodec,
  type SerializationContext,
} from '@temporalio/common';
import proto from '@temporalio/proto';
import sodium from 'libsodium-wrappers';
import type { KeyRingEntry } from './config.ts';
import { markerPayload, REFUSED_ENCODING, UNENCRYPTED_ENCODING } from './payload-converter.cjs';
import { newNonce, sodiumReady } from './token-crypto.ts';

export const ENCRYPTED_ENCODING = 'binary/encrypted';
export const KEY_ID_METADATA = 'encryption-key-id';

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Binds a ciphertext to the key id it names, so a swapped id fails to open instead of misleading. */
function associatedData(keyId: string): Uint8Array {
  return encoder.encode(`feishu-user-auth/payload/v1:${keyId}`);
}

export function isEncrypted(payload: Payload): boolean {
  const encoding = payload.metadata?.[METADATA_ENCODING_KEY];
  return !!encoding && decoder.decode(encoding) === ENCRYPTED_ENCODING;
}

export interface PayloadCodecOptions {
  /**
   * Workers: anyone who reaches the Temporal frontend can start a grant or send it an update, and
   * only the codec key proves the sender is this service, so an unencrypted payload is replaced by
   * a marker (lib/payload-converter.cjs): refused at once for an activity, left for the workflow's
   * interceptor to judge inside a workflow. Throwing here instead would fail the whole workflow
   * task, over and over. Clients, replay and tools leave this off: they read decoded fixtures and
   * their own results.
   */
  refuseUnencrypted?: boolean;
}

/**
 * Encrypts every payload the service hands to Temporal: the whole payload (metadata included) is
 * serialized and sealed with XChaCha20-Poly1305 under the ring's first key; the key id travels in
 * the outer metadata so any key of the ring decrypts, and keys rotate online. Payloads that are not
 * encrypted pass through decode unchanged, or are refused (refuseUnencrypted).
 */
export class SodiumPayloadCodec implements PayloadCodec {
  private readonly byId: Map<string, Uint8Array>;

  constructor(
    private readonly ring: KeyRingEntry[],
    private readonly options: PayloadCodecOptions = {},
  ) {
    if (ring.length === 0) throw new Error('the payload codec key ring is empty');
    this.byId = new Map(ring.map((k) => [k.id, k.key]));
  }

  async encode(payloads: Payload[]): Promise<Payload[]> {
    await sodiumReady();
    const { id, key } = this.ring[0]!;
    return payloads.map((payload) => {
      const nonce = newNonce();
      const sealed = sodium.crypto_aead_xchacha20poly1305_ietf_encrypt(
        proto.temporal.api.common.v1.Payload.encode(payload).finish(),
        associatedData(id),
        null,
        nonce,
        key,
      );
      const data = new Uint8Array(nonce.length + sealed.length);
      data.set(nonce);
      data.set(sealed, nonce.length);
      return {
        metadata: {
          [METADATA_ENCODING_KEY]: encoder.encode(ENCRYPTED_ENCODING),
          [KEY_ID_METADATA]: encoder.encode(id),
        },
        data,
      };
    });
  }

  async decode(payloads: Payload[], context?: SerializationContext): Promise<Payload[]> {
    await sodiumReady();
    const marker = markerPayload(context?.type === 'workflow' ? UNENCRYPTED_ENCODING : REFUSED_ENCODING);
    return payloads.map((payload) =>
      isEncrypted(payload) ? this.open(payload) : this.options.refuseUnencrypted ? marker : payload,
    );
  }

  private open(payload: Payload): Payload {
    const keyIdBytes = payload.metadata?.[KEY_ID_METADATA];
    if (!keyIdBytes || !payload.data) throw new ValueError('an encrypted payload lacks its key id or data');
    const keyId = decoder.decode(keyIdBytes);
    const key = this.byId.get(keyId);
    if (!key) throw new ValueError(`payload key "${keyId}" is not in PAYLOAD_CODEC_KEYS`);
    const nonceBytes = sodium.crypto_aead_xchacha20poly1305_ietf_NPUBBYTES;
    let plaintext: Uint8Array;
    try {
      plaintext = sodium.crypto_aead_xchacha20poly1305_ietf_decrypt(
        null,
        payload.data.subarray(nonceBytes),
        associatedData(keyId),
        payload.data.subarray(0, nonceBytes),
        key,
      );
    } catch {
      throw new ValueError(`an encrypted payload does not open with key "${keyId}"`);
    }
    return proto.temporal.api.common.v1.Payload.decode(plaintext);
  }
}
