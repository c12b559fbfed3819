import { defineQuery, defineSignal, defineUpdate } from '@temporalio/workflow';
import type {
  AttemptOutcome,
  AuthorizationRequest,
  AuthorizationResponse,
  GrantState,
  RedirectDelivery,
  RevokeRequest,
  TokenMeta,
} from '../lib/grant-types.ts';

/** Ask for authorization (API, bot DM, Retry button); the update of update-with-start. */
export const requestAuthorization = defineUpdate<
  AuthorizationResponse,
  [AuthorizationRequest & { reuseMessageId?: string }]
>('requestAuthorization');

/** The OAuth redirect arrived for an attempt; answers with the attempt's real outcome. */
export const deliverRedirect = defineUpdate<AttemptOutcome, [RedirectDelivery]>('deliverRedirect');

/** The user pressed Cancel on a pending card. */
export const cancelAttempt = defineSignal<[{ attemptId: string }]>('cancelAttempt');

/** Revoke the grant: tokens deleted, loop ended. */
export const revoke = defineUpdate<GrantState, [RevokeRequest]>('revoke');

/** Make sure the access token stays valid until validUntil (epoch ms); refreshes when it would not. */
export const ensureFreshToken = defineUpdate<TokenMeta, [{ validUntil: number }]>('ensureFreshToken');

export const grantState = defineQuery<GrantState>('state');
