import type { Context, Middleware } from 'koa';
import type { RevokedBy } from '../lib/grant-types.ts';
import type { Logger } from '../lib/logger.ts';
import { HttpError } from './errors.ts';
import { openIdParam } from './routes/params.ts';

export type AuditAction =
  | 'token.read'
  | 'authorization.request'
  | 'authorization.revoke'
  | 'proxy.call'
  | 'webhook.subscriber.create'
  | 'webhook.subscriber.rotate_secret'
  | 'webhook.subscriber.delete'
  | 'webhook.replay'
  | 'authorization.batch_request'
  | 'authorization.batch_revoke';

/** One line of the audit stream (docs/operations.md#the-audit-stream): fixed fields, never a secret. */
export interface AuditRecord {
  action: AuditAction;
  /** The API key's name, or the user who pressed the card's button; null when no key was valid. */
  by: RevokedBy | null;
  open_id: string | null;
  /** `ok`, or the error code the caller got. */
  outcome: string;
  status: number;
  /** Proxied calls: the method and the Feishu path with its ids replaced by `:id`. */
  method?: string;
  path?: string;
}

/** The audit stream: the process's JSON log lines with `"stream":"audit"`, at level info. */
export function auditStream(logger: Logger): (record: AuditRecord) => void {
  const audit = logger.child({ stream: 'audit' });
  return (record) => audit.info(record, record.action);
}

/** What a failure answered: its error code and status, or an internal fault. */
export function failureOutcome(err: unknown): Pick<AuditRecord, 'outcome' | 'status'> {
  return err instanceof HttpError
    ? { outcome: err.code, status: err.status }
    : { outcome: 'internal', status: 500 };
}

/** The open_id a request is about, when it is a well-formed one: junk is not copied into the log. */
function openIdOf(ctx: Context): string | null {
  const candidate =
    (ctx.params as { openId?: unknown } | undefined)?.openId ??
    (ctx.request.body as { open_id?: unknown } | undefined)?.open_id;
  return openIdParam.safeParse(candidate).success ? (candidate as string) : null;
}

/**
 * Records every use of a route, whatever its outcome: placed before the key check, so refused keys
 * (wrong role, rate-limited) are recorded too, by name.
 */
export function audited(
  write: (record: AuditRecord) => void,
  action: AuditAction,
  request: (ctx: Context) => Pick<AuditRecord, 'method' | 'path'> = () => ({}),
): Middleware {
  return async (ctx, next) => {
    const record = (result: Pick<AuditRecord, 'outcome' | 'status'>) => {
      const key = ctx.state.apiKey as string | undefined;
      write({
        action,
        by: key ? { api_key: key } : null,
        open_id: openIdOf(ctx),
        ...request(ctx),
        ...result,
      });
    };
    try {
      await next();
    } catch (err) {
      record(failureOutcome(err));
      throw err;
    }
    record({ outcome: 'ok', status: ctx.status });
  };
}
