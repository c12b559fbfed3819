/** What subscribers are told, one type per change of a grant they may act on. */
export const WEBHOOK_EVENT_TYPES = [
  'grant.authorized',
  'grant.denied',
  'grant.expired',
  'grant.needs_reauth',
  'grant.recovered',
  'grant.revoked',
  'grant.renewal_due',
  'grant.scopes_changed',
] as const;

export type WebhookEventType = (typeof WEBHOOK_EVENT_TYPES)[number];

/** The body of a delivery: the grant as it stood when the event happened, never a token. */
export interface WebhookEventBody {
  id: string;
  type: string;
  occurred_at: string;
  app_id: string;
  open_id: string;
  status: string;
  scopes: string[];
  reason: string | null;
}

/** The exact bytes signed and sent: the same for every try of a delivery. */
export function webhookBody(event: {
  event_id: string;
  type: string;
  occurred_at: Date;
  app_id: string;
  open_id: string;
  grant_status: string;
  scopes: string[];
  reason: string | null;
}): string {
  const body: WebhookEventBody = {
    id: event.event_id,
    type: event.type,
    occurred_at: event.occurred_at.toISOString(),
    app_id: event.app_id,
    open_id: event.open_id,
    status: event.grant_status,
    scopes: event.scopes,
    reason: event.reason,
  };
  return JSON.stringify(body);
}
