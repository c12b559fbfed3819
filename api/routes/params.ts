import { z } from 'zod';

export const openIdParam = z.string().regex(/^ou_[A-Za-z0-9_-]{1,64}$/, 'must be a Feishu open_id (ou_…)');

/** A Feishu scope name, as a request body or a "/auth" DM may name it. */
export const scopeParam = z.string().regex(/^[A-Za-z0-9:._-]{1,100}$/, 'must be a Feishu scope name');

/** The `:openId` of the per-user routes. */
export const openIdPath = z.object({ openId: openIdParam });

/**
 * A whole number in a query string, digits only: Number() alone would also take '', ' ', '0x10'
 * and '1e1', none of which the contract calls an integer.
 */
export const queryInteger = (min: number, max: number) =>
  z.preprocess(
    (value) => (typeof value === 'string' && !/^\d+$/.test(value) ? Number.NaN : value),
    z.coerce.number().int().min(min).max(max),
  );

/** What a request for authorization carries besides whom it is for: one user's, or a batch's. */
export const requestOptions = {
  scopes: z.array(scopeParam).max(50).default([]),
  expires_in_seconds: z.number().int().min(30).max(86_400).optional(),
  locale: z.enum(['zh_cn', 'en_us']).optional(),
};
