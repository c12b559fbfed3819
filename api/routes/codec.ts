import { bodyParser } from '@koa/bodyparser';
import cors from '@koa/cors';
import Router from '@koa/router';
import type { PayloadCodec } from '@temporalio/common';
import { JSONToPayload, payloadToJSON } from '@temporalio/common/lib/proto-utils.js';
import type { Middleware } from 'koa';
import { z } from 'zod';
import { HttpError, parseInput } from '../errors.ts';
import type { Operation } from '../openapi.ts';

export interface CodecRouteOptions {
  codec: PayloadCodec;
  /** Origins of the Temporal Web UI (CODEC_CORS_ORIGINS). */
  allowedOrigins: string[];
  /** The only namespace whose payloads this codec serves. */
  namespace: string;
  /**
   * Bearer API key checks: decoding shows state, never tokens (role `decode` and up); encoding
   * makes payloads a worker accepts, so it needs the role that may revoke (`token`).
   */
  requireKey: Record<'encode' | 'decode', Middleware>;
}

/** Payloads as Temporal's proto JSON: base64 data and base64 metadata values. */
const payloads = z.object({
  payloads: z
    .array(
      z.object({
        metadata: z.record(z.string(), z.string()).nullish(),
        data: z.string().nullish(),
      }),
    )
    .max(10_000),
});

const keyPath = z.object({ key: z.string() });

const ACTIONS = ['encode', 'decode'] as const;

/** The codec's routes, each with the key as a bearer header or as the path segment before the action. */
export const codecOperations: Operation[] = ACTIONS.flatMap((action) =>
  [`/codec/${action}`, `/codec/:key/${action}`].flatMap((path): Operation[] => {
    const params = path.includes(':key') ? keyPath : undefined;
    const forbiddenOrigin = { 403: ['forbidden_origin'] };
    return [
      {
        method: 'post',
        path,
        summary: `${action === 'encode' ? 'Encrypt' : 'Decrypt'} payloads for the Temporal Web UI and CLI`,
        role: action === 'encode' ? 'token' : 'decode',
        params,
        body: payloads,
        answers: { 200: { description: `the payloads, ${action}d`, json: payloads } },
        errors: {
          ...forbiddenOrigin,
          400: ['invalid_request', 'wrong_namespace', 'bad_request'],
          413: ['bad_request'],
          422: ['undecodable'],
        },
      },
      {
        method: 'options',
        path,
        summary: `CORS preflight of the codec's ${action}`,
        params,
        answers: { 204: { description: 'the CORS headers for an allowed origin', empty: true } },
        errors: forbiddenOrigin,
      },
    ];
  }),
);

/**
 * Browsers may call from the UI's origins only: another origin is refused outright (403), not
 * just left without CORS headers. A request without an Origin header (the CLI's --codec-endpoint,
 * scripts) is not a browser's and is left to the API key check.
 */
function corsForUi(allowedOrigins: string[]): Middleware[] {
  const allowed = new Set(allowedOrigins);
  const refuseOtherOrigins: Middleware = async (ctx, next) => {
    const origin = ctx.get('origin');
    if (origin && !allowed.has(origin)) {
      throw new HttpError(403, 'forbidden_origin', 'this origin may not call the codec server');
    }
    await next();
  };
  return [
    refuseOtherOrigins,
    cors({
      origin: (ctx) => ctx.get('origin'),
      credentials: true,
      allowMethods: ['POST', 'OPTIONS'],
      allowHeaders: ['authorization', 'content-type', 'x-namespace'],
      maxAge: 600,
    }),
  ];
}

/** What a preflight that @koa/cors left alone (no Access-Control-Request-Method) gets. */
const noContent: Middleware = (ctx) => {
  ctx.status = 204;
};

/**
 * The Temporal Web UI of the dev server has no sign-in and so cannot send an Authorization header;
 * it can only be given an endpoint URL. The key may therefore also be the path segment before
 * /encode or /decode (`PUBLIC_BASE_URL/codec/<key>`), and is checked exactly like a bearer key.
 */
const keyFromPath: Middleware = async (ctx, next) => {
  const key = (ctx.params as { key?: string }).key;
  if (key && !ctx.get('authorization')) ctx.request.headers.authorization = `Bearer ${key}`;
  await next();
};

function sameNamespace(namespace: string): Middleware {
  return async (ctx, next) => {
    const requested = ctx.get('x-namespace');
    if (requested && requested !== namespace) {
      throw new HttpError(400, 'wrong_namespace', `this codec serves the namespace "${namespace}" only`);
    }
    await next();
  };
}

/**
 * The codec server of the Temporal Web UI and CLI (Temporal's remote codec protocol): Payloads
 * as proto JSON in, the same shape out. Registered before the API's body parser: payloads may be
 * larger than management API bodies.
 */
export function codecRoutes(options: CodecRouteOptions): Router {
  const router = new Router({ prefix: '/codec' });
  const uiCors = corsForUi(options.allowedOrigins);
  const namespace = sameNamespace(options.namespace);
  const parseBody = bodyParser({ enableTypes: ['json'], jsonLimit: '8mb' });
  for (const action of ACTIONS) {
    const paths = [`/${action}`, `/:key/${action}`];
    const guards = [...uiCors, keyFromPath, options.requireKey[action], namespace, parseBody];
    router.options(paths, ...uiCors, noContent);
    router.post(paths, ...guards, async (ctx) => {
      const { payloads: input } = parseInput(payloads, ctx.request.body);
      let parsed;
      try {
        parsed = input.map((p) => JSONToPayload(p));
      } catch {
        throw new HttpError(400, 'invalid_request', 'payloads must be proto JSON with base64 fields');
      }
      let converted;
      try {
        converted = await options.codec[action](parsed);
      } catch (err) {
        // The codec's messages name a key id at most, never key material or payload content.
        throw new HttpError(422, 'undecodable', (err as Error).message);
      }
      ctx.body = { payloads: converted.map((p) => payloadToJSON(p)) };
    });
  }
  return router;
}
