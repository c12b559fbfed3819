import { z } from 'zod';

export const openIdParam = z.string().regex(/^ou_[A-Za-z0-9_-]{1,64}$/, 'must be a Feishu open_id (ou_…)');
