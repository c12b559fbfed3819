import { randomBytes } from 'node:crypto';
import { defaultPayloadConverter } from '@temporalio/common';
import { describe, expect, it } from 'vitest';
import { SodiumPayloadCodec } from '../../lib/payload-codec.ts';
import { payloadConverter, UNENCRYPTED_FAILURE_TYPE } from '../../lib/payload-converter.cjs';

const ring = [{ id: 'c1', key: new Uint8Array(randomBytes(32)) }];
const plain = defaultPayloadConverter.toPayload({ source: 'api' });
const workflow = { type: 'workflow', namespace: 'default', workflowId: 'w' } as const;
const activity = { type: 'activity', namespace: 'default', isLocal: false } as const;

describe("a worker's codec and unencrypted payloads", () => {
  const strict = new SodiumPayloadCodec(ring, { refuseUnencrypted: true });

  it('refuses an unencrypted activity input at conversion', async () => {
    const [marked] = await strict.decode([plain], activity);
    expect(() => payloadConverter.fromPayload(marked!)).toThrow(
      expect.objectContaining({ type: UNENCRYPTED_FAILURE_TYPE }),
    );
  });

  it('leaves an unencrypted workflow payload inert, for the workflow interceptor to judge', async () => {
    const [marked] = await strict.decode([plain], workflow);
    expect(payloadConverter.fromPayload(marked!)).toEqual({ unencrypted: true });
  });

  it('still opens what it encrypted, and clients stay lenient', async () => {
    const sealed = await strict.encode([plain]);
    expect(payloadConverter.fromPayload((await strict.decode(sealed, activity))[0]!)).toEqual({
      source: 'api',
    });
    expect(await new SodiumPayloadCodec(ring).decode([plain], activity)).toEqual([plain]);
  });
});
