import type { AuthFlow, CardNotice, GrantSettings, GrantState, Locale } from '../lib/grant-types.ts';

/** The failure type of an update whose card could not be sent; the API answers it with a 4xx. */
export const CARD_NOT_SENT = 'CardNotSent';

/** A notice card the grant still owes its user (Feishu refused or failed to take it so far). */
export interface OwedNotice {
  kind: CardNotice;
  scopes: string[];
  retryAt: number;
  failures: number;
}

/** The grant as one run hands it to the next at continue-as-new. */
export interface CarriedGrant {
  state: GrantState;
  grantMessageId?: string;
  /** The attempt grantMessageId's card authorized; absent in runs before it was carried. */
  grantAttemptId?: string;
  /** Carried since the first run of the current code; its absence means a run of the 0f8d4b2 code. */
  format?: 2;
  /** 0f8d4b2 runs carried only whether a renewal card had been sent. */
  renewalAsked?: boolean;
  settledAttemptId?: string;
  renewalNoticesSent?: number;
  refreshFailures?: number;
  refreshRetryAt?: number;
  owedNotice?: OwedNotice;
  revokedCardShown?: boolean;
  locale?: Locale;
  /** The latest request's flow; absent means the code flow. */
  flow?: AuthFlow;
}

export interface GrantWorkflowInput {
  appId: string;
  openId: string;
  /** Complete when started by the current API or continued by the current code. */
  settings?: Partial<GrantSettings>;
  /** Set by continue-as-new: the grant as the previous run left it. */
  carried?: CarriedGrant;
}

export type GrantWorkflow = (input: GrantWorkflowInput) => Promise<GrantState>;
