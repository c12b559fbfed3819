import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { historyToJSON, type History } from '@temporalio/common/lib/proto-utils.js';
import { loadTemporalConfig } from '../../../lib/config.ts';
import { decodeHistoryJSON } from '../../../lib/history-payloads.ts';
import { SodiumPayloadCodec } from '../../../lib/payload-codec.ts';

/**
 * Saves, decoded, every history that names a user of a lost flow (the grant's runs, and the
 * callback workflows of their clicks and DMs), one file per user: the run's Temporal database is
 * deleted with it, and a loss is traced from these.
 */
export async function saveLostHistories(
  histories: History[],
  lostOpenIds: string[],
  /** The run's PAYLOAD_CODEC_KEYS, as its processes read it. */
  codecKeys: string,
  dir: string,
): Promise<string[]> {
  if (lostOpenIds.length === 0) return [];
  const codec = new SodiumPayloadCodec(
    loadTemporalConfig({ PAYLOAD_CODEC_KEYS: codecKeys }).PAYLOAD_CODEC_KEYS,
  );
  const decoded = await Promise.all(
    histories.map(async (history) =>
      JSON.stringify(await decodeHistoryJSON(JSON.parse(historyToJSON(history)), codec)),
    ),
  );
  mkdirSync(dir, { recursive: true });
  return [...new Set(lostOpenIds)].map((openId) => {
    const file = path.join(dir, `${openId}.json`);
    const named = decoded.filter((text) => text.includes(openId));
    writeFileSync(file, `[\n${named.join(',\n')}\n]\n`);
    return file;
  });
}
