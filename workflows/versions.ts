/**
 * The grant workflow's patch ids (docs/operations.md, "Versioning"). Every patch a run records
 * costs a marker and a TemporalChangeVersion search-attribute write, so a run begun on the current
 * code records only the newest id, which stands for every change before it.
 */

/** Runs begun since grant-v2 have this marker; runs without any marker replay on 0f8d4b2's code. */
export const GRANT_V2 = 'grant-v2';
/** Since grant-v3, one activity records how an attempt ended and shows it on its card. */
export const GRANT_V3 = 'grant-v3';
