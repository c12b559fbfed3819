import Router from '@koa/router';
import { z } from 'zod';
import type { ApiKeyRole } from '../lib/api-key-roles.ts';

/** What one answer of an operation carries: JSON described by a schema, or an HTML page. */
export type Answer = { description: string } & ({ json: z.ZodType } | { html: true } | { empty: true });

/**
 * One route as the OpenAPI document describes it, from the zod schemas the route itself parses
 * with, so the contract and the code cannot drift apart. `path` is in @koa/router's syntax.
 */
export interface Operation {
  method: 'get' | 'post' | 'put' | 'patch' | 'delete' | 'options';
  path: string;
  summary: string;
  /** The least API key role the route needs; none when it takes no key. */
  role?: ApiKeyRole;
  params?: z.ZodObject;
  query?: z.ZodObject;
  body?: z.ZodType;
  answers: Partial<Record<number, Answer>>;
  /** The error codes each refusal status may carry, beyond those every route shares. */
  errors?: Partial<Record<number, readonly string[]>>;
  /**
   * The route answers with whatever another server (Feishu) answered: any status and body, so
   * each status also allows any JSON object, and any other status is the `default` answer.
   */
  passthrough?: boolean;
}

const errorBody = (codes: readonly string[]) =>
  z.object({ error: z.object({ code: z.enum(codes as [string, ...string[]]), message: z.string() }) });

/** Refusals of the key check, for every keyed route. */
const KEY_ERRORS = { 401: ['unauthorized'], 403: ['forbidden'] } as const;

/** Input schemas describe what a caller may send; answers, what the API sends back. */
function jsonSchema(schema: z.ZodType, io: 'input' | 'output'): Record<string, unknown> {
  const { $schema: _dialect, ...rest } = z.toJSONSchema(schema, {
    io,
    target: 'draft-2020-12',
    // Rows carry Date objects, which JSON carries as ISO strings: the override says so.
    unrepresentable: 'any',
    override: ({ zodSchema, jsonSchema: out }) => {
      if (zodSchema._zod.def.type === 'date') Object.assign(out, { type: 'string', format: 'date-time' });
    },
  });
  return rest;
}

function parameters(where: 'path' | 'query', schema: z.ZodObject | undefined) {
  if (!schema) return [];
  const { properties = {}, required = [] } = jsonSchema(schema, 'input') as {
    properties?: Record<string, unknown>;
    required?: string[];
  };
  return Object.entries(properties).map(([name, s]) => ({
    name,
    in: where,
    required: where === 'path' || required.includes(name),
    schema: s,
  }));
}

function mergedErrors(operation: Operation): Map<number, string[]> {
  const merged = new Map<number, string[]>([
    [500, ['internal']],
    [503, ['unavailable']],
  ]);
  const sources = [operation.role ? KEY_ERRORS : {}, operation.errors ?? {}];
  for (const source of sources) {
    for (const [status, codes] of Object.entries(source) as [string, readonly string[]][]) {
      const known = merged.get(Number(status)) ?? [];
      merged.set(Number(status), [...new Set([...known, ...codes])]);
    }
  }
  return merged;
}

function responses(operation: Operation) {
  const out: Record<string, unknown> = {};
  for (const [status, answer] of Object.entries(operation.answers) as [string, Answer][]) {
    out[status] = {
      description: answer.description,
      ...('json' in answer && {
        content: { 'application/json': { schema: jsonSchema(answer.json, 'output') } },
      }),
      ...('html' in answer && { content: { 'text/html': { schema: { type: 'string' } } } }),
    };
  }
  for (const [status, codes] of mergedErrors(operation)) {
    const refusal = jsonSchema(errorBody(codes), 'output');
    out[String(status)] = {
      description: `refused: ${codes.join(', ')}${operation.passthrough ? "; or Feishu's own answer" : ''}`,
      content: {
        'application/json': {
          schema: operation.passthrough ? { anyOf: [refusal, { type: 'object' }] } : refusal,
        },
      },
    };
  }
  if (operation.passthrough) out.default = { description: "Feishu's answer, passed through" };
  return out;
}

/**
 * @koa/router's `/v1/users/:openId` (and a wildcard's `*rest`) as OpenAPI's `/v1/users/{openId}`;
 * an escaped colon (`/v1/authorizations\\:batch`) is a literal one.
 */
export const openApiPath = (koaPath: string) =>
  koaPath.replace(/(\\)?([:*])(\w+)/g, (_, escaped: string | undefined, sigil: string, name: string) =>
    escaped ? `${sigil}${name}` : `{${name}}`,
  );

/** `get /v1/users/:openId/token` as `getV1UsersOpenIdToken`. */
const operationId = (op: Operation) =>
  op.method + op.path.replace(/[^A-Za-z0-9]+(.)?/g, (_, next?: string) => (next ?? '').toUpperCase());

/** The OpenAPI 3.1 document of the operations an app serves. */
export function openApiDocument(operations: readonly Operation[]): Record<string, unknown> {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of operations) {
    const keyNote = op.role ? ` Needs an API key with the role \`${op.role}\` or above.` : '';
    (paths[openApiPath(op.path)] ??= {})[op.method] = {
      summary: op.summary,
      description: `${op.summary}.${keyNote}`,
      operationId: operationId(op),
      ...(op.role && { security: [{ apiKey: [] }], 'x-required-role': op.role }),
      parameters: [...parameters('path', op.params), ...parameters('query', op.query)],
      ...(op.body && {
        requestBody: {
          required: true,
          content: { 'application/json': { schema: jsonSchema(op.body, 'input') } },
        },
      }),
      responses: responses(op),
    };
  }
  return {
    openapi: '3.1.0',
    info: {
      title: 'feishu-user-auth',
      version: '1',
      description:
        'Durable Feishu user authorization. Every refusal is `{"error": {"code", "message"}}`; each ' +
        "response lists the codes it may carry. Roles, least to most: decode < read < request < proxy < token < admin; a key's " +
        'role also allows everything below it.',
    },
    components: { securitySchemes: { apiKey: { type: 'http', scheme: 'bearer' } } },
    paths,
  };
}

const documentOperation: Operation = {
  method: 'get',
  path: '/openapi.json',
  summary: 'This document',
  answers: { 200: { description: 'the OpenAPI 3.1 document', json: z.looseObject({}) } },
};

/**
 * GET /openapi.json, without a key: the contract names routes, roles and error codes, all of which
 * the README documents too, and never a secret or a user.
 */
export function openApiRoutes(operations: readonly Operation[]): Router {
  const document = openApiDocument([...operations, documentOperation]);
  const router = new Router();
  router.get(documentOperation.path, (ctx) => {
    ctx.body = document;
  });
  return router;
}
