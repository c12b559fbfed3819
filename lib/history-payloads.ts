import type { PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON, type JSONPayload } from '@temporalio/common/lib/proto-utils.js';

export type { JSONPayload };

/** Where a payload sits in the history JSON, e.g. ['events', '0', 'workflowExecutionStartedEventAttributes', …]. */
export type JsonPath = readonly string[];

function isPayload(value: object): value is JSONPayload {
  const metadata = (value as { metadata?: unknown }).metadata;
  return (
    typeof metadata === 'object' &&
    metadata !== null &&
    typeof (metadata as Record<string, unknown>).encoding === 'string' &&
    Object.keys(value).every((k) => k === 'metadata' || k === 'data' || k === 'externalPayloads')
  );
}

/**
 * Visits every payload of a history in its proto JSON form (historyToJSON, `temporal workflow
 * show --output json`) and replaces it with what `visit` returns, wherever the payload sits:
 * inputs, results, update and signal arguments, headers, memo, user metadata, failures.
 */
export async function mapHistoryPayloads(
  node: unknown,
  visit: (payload: JSONPayload, path: JsonPath) => Promise<JSONPayload> | JSONPayload,
  path: JsonPath = [],
): Promise<unknown> {
  if (typeof node !== 'object' || node === null) return node;
  if (isPayload(node)) return visit(node, path);
  const entries = await Promise.all(
    Object.entries(node).map(
      async ([key, value]) => [key, await mapHistoryPayloads(value, visit, [...path, key])] as const,
    ),
  );
  return Array.isArray(node) ? entries.map(([, value]) => value) : Object.fromEntries(entries);
}

/** A history with every payload decoded: readable, and replayable without the codec's keys. */
export async function decodeHistoryJSON(history: unknown, codec: PayloadCodec): Promise<unknown> {
  return mapHistoryPayloads(history, async (payload) => {
    const [decoded] = await codec.decode([JSONToPayload(payload)]);
    return payloadToJSON(decoded!);
  });
}
