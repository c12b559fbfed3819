/**
 * The grant workflow's patch ids (docs/operations.md, "Versioning"). Every patch a run records
 * costs a marker and a TemporalChangeVersion search-attribute write, so a run begun on the current
 * code records only the newest id, which stands for every change before it.
 */

/** Runs begun since grant-v2 have this marker; runs without any marker replay on 0f8d4b2's code. */
export const GRANT_V2 = 'grant-v2';
/** Since grant-v3, one activity records how an attempt ended and shows it on its card. */
export const GRANT_V3 = 'grant-v3';
/**
 * Since then a revoked grant's card says so only after the store's revocation landed. Asked only
 * while a revocation is being written, so only runs that are revoked record it.
 */
export const REVOKED_CARD_AFTER_STORE = 'revoked-card-after-store';
/**
 * Since then a run whose input lacks settings (an API older than the worker, during a rolling
 * deploy) answers its first update while it reads them. Asked only by such runs.
 */
export const SETTINGS_READ_BEHIND_LOCK = 'settings-read-behind-lock';
/**
 * Since then a revocation that carries when it was asked for leaves alone a grant the user asked
 * for again after that (a card Revoke whose delivery was retried past the user's next request).
 * Asked only when it changes what the revocation does.
 */
export const LATER_REQUEST_OUTLIVES_REVOKE = 'later-request-outlives-revoke';
/**
 * Since then a request that finds the last attempt decided but not yet recorded (a consent the
 * loop has not settled yet) settles it first, so a grant just authorized covers the request
 * instead of a new card replacing the authorized one (a Retry click delivered again). Asked only
 * in that moment.
 */
export const DECIDED_ATTEMPT_SETTLES_FIRST = 'decided-attempt-settles-first';
