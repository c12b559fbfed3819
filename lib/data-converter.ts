import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import type { KeyRingEntry } from './config.ts';
import { SodiumPayloadCodec, type PayloadCodecOptions } from './payload-codec.ts';

/** Loaded by path: the workflow bundle must be built with it too (see bundleGrantWorkflows). */
export const failureConverterPath = fileURLToPath(new URL('./failure-converter.cjs', import.meta.url));
/** Loaded by path like the failure converter: it refuses what a worker's codec marked as unencrypted. */
export const payloadConverterPath = fileURLToPath(new URL('./payload-converter.cjs', import.meta.url));

/**
 * The data converter of everything that talks to Temporal for this service (workers, the API's
 * client, replay, tests): payloads encrypted with PAYLOAD_CODEC_KEYS, failure messages and stack
 * traces encoded so they are encrypted too. Workers pass refuseUnencrypted.
 */
export function grantDataConverter(
  payloadCodecKeys: KeyRingEntry[],
  options: PayloadCodecOptions = {},
): DataConverter {
  return {
    payloadCodecs: [new SodiumPayloadCodec(payloadCodecKeys, options)],
    failureConverterPath,
    payloadConverterPath,
  };
}
