import { patched, setHandler } from '@temporalio/workflow';
import {
  DEFAULT_GRANT_SETTINGS,
  type GrantSettings,
  type GrantState,
  type RedirectDelivery,
} from '../lib/grant-types.ts';
import { store } from './activity-proxies.ts';
import type { GrantWorkflowInput } from './grant-contract.ts';
import { Grant } from './grant-state.ts';
import { grantWorkflowV1 } from './legacy/grant-v1.ts';
import {
  cancelAttempt,
  deliverRedirect,
  ensureFreshToken,
  grantState,
  requestAuthorization,
  revoke,
} from './messages.ts';
import { GRANT_V2, GRANT_V3, SETTINGS_READ_BEHIND_LOCK } from './versions.ts';

export { CARD_NOT_SENT, type GrantWorkflowInput } from './grant-contract.ts';

function isComplete(settings: Partial<GrantSettings> | undefined): settings is GrantSettings {
  return !!settings && Object.keys(DEFAULT_GRANT_SETTINGS).every((key) => key in settings);
}

/** The grant's whole life for one (app, user): attempts, refreshes, renewal, revocation. */
export async function grantWorkflow(input: GrantWorkflowInput): Promise<GrantState> {
  // A run begun on the current code records grant-v3 only; runs begun before it replay on the
  // marker they have (docs/operations.md, "Versioning").
  if (!patched(GRANT_V3) && !patched(GRANT_V2)) return grantWorkflowV1(input);
  // Settings travel in the input, so code defaults never decide anything on replay.
  if (isComplete(input.settings)) return serve(new Grant(input, input.settings));
  if (!patched(SETTINGS_READ_BEHIND_LOCK)) {
    return serve(new Grant(input, await store.currentGrantSettings()));
  }
  const grant = new Grant(input);
  const loaded = grant.loadSettings();
  return serve(grant, loaded);
}

/** Registers the grant's handlers, then runs its loop once its settings are there. */
async function serve(grant: Grant, settingsLoaded?: Promise<void>): Promise<GrantState> {
  setHandler(grantState, () => grant.state);
  setHandler(requestAuthorization, (req) => grant.request(req));
  setHandler(deliverRedirect, (delivery) => grant.deliver(delivery), {
    validator: (delivery: RedirectDelivery) => grant.validateDelivery(delivery),
  });
  setHandler(cancelAttempt, (signal) => grant.cancel(signal));
  setHandler(revoke, (request) => grant.revoke(request));
  setHandler(ensureFreshToken, (request) => grant.ensureFresh(request), {
    validator: (_request) => grant.validateTokenRead(),
  });
  // Without settings to wait for, the loop starts in this same turn: replay depends on that order.
  if (settingsLoaded) await settingsLoaded;
  return grant.run();
}
