import { Client } from '@temporalio/client';
import {
  ApplicationFailure,
  defaultPayloadConverter,
  METADATA_ENCODING_KEY,
  type FailureConverter,
} from '@temporalio/common';
import { historyToJSON, payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { temporal } from '@temporalio/proto';
import { execFile } from 'node:child_process';
import { createRequire } from 'node:module';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureConverterPath } from '../../lib/data-converter.ts';
import { findOrBuildTemporalCli } from '../../scripts/stack/temporal-cli.ts';
import { mapHistoryPayloads, type JSONPayload, type JsonPath } from '../../lib/history-payloads.ts';
import { grantWorkflowId } from '../../workflows/task-queues.ts';
import { eventually } from '../helpers/cards.ts';
import { authorize } from '../helpers/flows.ts';
import { API_KEY, STATUS_KEY, startStack, type Stack } from '../helpers/stack.ts';

const UI_ORIGIN = 'http://localhost:8233';
const b64 = (s: string) => Buffer.from(s).toString('base64');
const unb64 = (s: string) => Buffer.from(s, 'base64').toString('utf8');

const isSearchAttribute = (path: JsonPath) => path.includes('searchAttributes');

/** Temporal's SDK core writes a patch marker's id itself, past the codec: a version name, no data. */
const isPatchMarker = (path: JsonPath) => path.includes('patch-data');

/** Plaintext by design: search attributes and patch ids (documented). Everything else must be encrypted. */
const plaintextByDesign = (path: JsonPath) => isSearchAttribute(path) || isPatchMarker(path);

async function payloadsOf(history: unknown) {
  const found: { payload: JSONPayload; path: JsonPath }[] = [];
  await mapHistoryPayloads(history, (payload, path) => {
    found.push({ payload, path });
    return payload;
  });
  return found;
}

describe('payload codec and Web UI search, through the real dev server', () => {
  let stack: Stack;
  let openId: string;
  let userName: string;
  let rawHistory: string;

  const codec = (
    action: 'encode' | 'decode',
    payloads: JSONPayload[],
    headers: Record<string, string> = {},
  ) =>
    fetch(`${stack.apiUrl}/codec/${action}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ payloads }),
    });

  beforeAll(async () => {
    stack = await startStack();
    openId = stack.sandbox.openIdOf(stack.appId, 0);
    userName = stack.sandbox.state.users(stack.appId).find((u) => u.openId === openId)!.name;
    await authorize(stack, openId, ['calendar:calendar:readonly']);
    // A client without the codec sees what Temporal stores.
    const raw = new Client({
      connection: stack.temporal.connection,
      namespace: stack.config.TEMPORAL_NAMESPACE,
    });
    rawHistory = historyToJSON(
      await raw.workflow.getHandle(grantWorkflowId(stack.appId, openId)).fetchHistory(),
    );
  });
  afterAll(() => stack?.close());

  it('stores no open_id, token or user name in plaintext', async () => {
    const grant = stack.sandbox.state.grants().find((g) => g.openId === openId)!;
    const tokens = [...grant.accessTokens, ...grant.refreshTokens].map((t) => t.token);
    expect(tokens.length).toBeGreaterThanOrEqual(2);
    for (const secret of [...tokens, userName]) {
      expect(rawHistory).not.toContain(secret);
      expect(rawHistory).not.toContain(b64(secret));
    }
    const payloads = await payloadsOf(JSON.parse(rawHistory));
    const others = payloads.filter((p) => !isSearchAttribute(p.path));
    expect(others.length).toBeGreaterThan(5);
    for (const { payload, path } of others) {
      if (!plaintextByDesign(path))
        expect(unb64(payload.metadata![METADATA_ENCODING_KEY]!), path.join('.')).toBe('binary/encrypted');
      expect(Buffer.from(payload.data ?? '', 'base64').toString('latin1')).not.toContain(openId);
    }
  });

  it('decodes the stored history through the codec server', async () => {
    const encrypted = (await payloadsOf(JSON.parse(rawHistory)))
      .filter((p) => !plaintextByDesign(p.path))
      .map((p) => p.payload);
    const res = await codec('decode', encrypted, {
      authorization: `Bearer ${STATUS_KEY}`,
      origin: UI_ORIGIN,
      'x-namespace': stack.config.TEMPORAL_NAMESPACE,
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    const { payloads } = (await res.json()) as { payloads: JSONPayload[] };
    expect(payloads).toHaveLength(encrypted.length);
    const decoded = payloads.map((p) => unb64(p.data ?? ''));
    expect(payloads.every((p) => unb64(p.metadata!.encoding!) !== 'binary/encrypted')).toBe(true);
    // The workflow input and the authorized outcome, readable again.
    expect(decoded.join('\n')).toContain(`"openId":"${openId}"`);
    expect(decoded.join('\n')).toContain('"kind":"authorized"');
    // Decoded or not, tokens never enter history.
    const grant = stack.sandbox.state.grants().find((g) => g.openId === openId)!;
    for (const t of grant.accessTokens) expect(decoded.join('\n')).not.toContain(t.token);
  });

  it('lets the Temporal CLI show the history decoded (docs/operations.md)', async () => {
    // Asynchronously: the CLI calls back into the codec server this process serves.
    const { stdout: shown } = await promisify(execFile)(
      await findOrBuildTemporalCli(),
      [
        ...['workflow', 'show', '--workflow-id', grantWorkflowId(stack.appId, openId), '--output', 'json'],
        ...['--address', stack.config.TEMPORAL_ADDRESS, '--namespace', stack.config.TEMPORAL_NAMESPACE],
        ...['--codec-endpoint', `${stack.apiUrl}/codec`, '--codec-auth', `Bearer ${STATUS_KEY}`],
      ],
      { encoding: 'utf8', timeout: 30_000 },
    );
    const payloads = await payloadsOf(JSON.parse(shown));
    const decoded = payloads
      .filter((p) => !isSearchAttribute(p.path))
      .map((p) => unb64(p.payload.data ?? ''));
    expect(decoded.join('\n')).toContain(`"openId":"${openId}"`);
  });

  it('finds the grant by search attributes and shows its summary and current details', async () => {
    const query = `FeishuOpenId = "${openId}" AND FeishuAuthStatus = "authorized" AND FeishuAppId = "${stack.appId}"`;
    const ids = await eventually('the grant in visibility', async () => {
      const found: string[] = [];
      for await (const wf of stack.temporal.workflow.list({ query })) found.push(wf.workflowId);
      return found.length > 0 ? found : undefined;
    });
    expect(ids).toEqual([grantWorkflowId(stack.appId, openId)]);
    const handle = stack.temporal.workflow.getHandle(ids[0]!);
    expect(await (await handle.describe()).staticSummary()).toContain(openId);
    // The built-in query the Web UI reads its "Current Details" from.
    const metadata = await handle.query<temporal.api.sdk.v1.IWorkflowMetadata>(
      '__temporal_workflow_metadata',
    );
    expect(metadata.currentDetails).toContain('**authorized**');
    expect(metadata.currentDetails).toContain('calendar:calendar:readonly');
  });

  it('round-trips encode and decode over HTTP, the key also accepted as a path segment', async () => {
    const plain = payloadToJSON(defaultPayloadConverter.toPayload({ hello: openId }));
    // Encoding makes payloads a worker accepts: only the role that may revoke may do it.
    expect((await codec('encode', [plain], { authorization: `Bearer ${STATUS_KEY}` })).status).toBe(403);
    const encoded = await codec('encode', [plain], { authorization: `Bearer ${API_KEY}` });
    expect(encoded.status).toBe(200);
    const { payloads } = (await encoded.json()) as { payloads: JSONPayload[] };
    expect(unb64(payloads[0]!.metadata!.encoding!)).toBe('binary/encrypted');
    const decoded = await fetch(`${stack.apiUrl}/codec/${STATUS_KEY}/decode`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ payloads }),
    });
    expect(((await decoded.json()) as { payloads: JSONPayload[] }).payloads).toEqual([plain]);
  });

  it('rejects requests without a valid key', async () => {
    expect((await codec('decode', [])).status).toBe(401);
    expect((await codec('decode', [], { authorization: 'Bearer not-a-key-0123456789' })).status).toBe(401);
    const fromUi = await codec('decode', [], { origin: UI_ORIGIN });
    expect(fromUi.status).toBe(401);
    // The browser can read the 401 only with the CORS headers on it.
    expect(fromUi.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
  });

  it('answers the UI origin preflight and refuses other origins without CORS headers', async () => {
    const preflight = (origin: string) =>
      fetch(`${stack.apiUrl}/codec/decode`, {
        method: 'OPTIONS',
        headers: {
          origin,
          'access-control-request-method': 'POST',
          'access-control-request-headers': 'authorization,content-type,x-namespace',
        },
      });
    const ok = await preflight(UI_ORIGIN);
    expect(ok.status).toBe(204);
    expect(ok.headers.get('access-control-allow-origin')).toBe(UI_ORIGIN);
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/authorization/);
    expect(ok.headers.get('access-control-allow-headers')).toMatch(/x-namespace/);

    const evil = await preflight('https://evil.example');
    expect(evil.status).toBe(403);
    expect(evil.headers.get('access-control-allow-origin')).toBeNull();
    const evilPost = await codec('decode', [], {
      origin: 'https://evil.example',
      authorization: `Bearer ${STATUS_KEY}`,
    });
    expect(evilPost.status).toBe(403);
    expect(evilPost.headers.get('access-control-allow-origin')).toBeNull();
  });

  it('moves failure messages and stack traces into an encoded attribute', () => {
    // Loaded the way the SDK loads it: by path.
    const { failureConverter } = createRequire(import.meta.url)(failureConverterPath) as {
      failureConverter: FailureConverter;
    };
    const failure = failureConverter.errorToFailure(
      ApplicationFailure.nonRetryable(`refresh failed for ${openId}`),
      defaultPayloadConverter,
    );
    expect(failure.message).toBe('Encoded failure');
    expect(failure.stackTrace).toBe('');
    expect(failure.encodedAttributes?.data).toBeTruthy();
  });

  it('serves its own namespace only', async () => {
    const res = await codec('decode', [], {
      authorization: `Bearer ${STATUS_KEY}`,
      'x-namespace': 'someone-else',
    });
    expect(res.status).toBe(400);
  });
});
