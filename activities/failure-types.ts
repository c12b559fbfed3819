/**
 * Failure types activities throw that workflows tell apart. A module of constants only, so
 * workflow code can import it without pulling activity code into its bundle.
 */

/**
 * Feishu refused a refresh for a reason retrying cannot fix (a configuration or request error,
 * not the grant's end, which is needs_reauth). Non-retryable: an operator has to act, so the
 * workflow should wait hours before it tries again rather than minutes.
 */
export const REFRESH_REFUSED = 'RefreshRefused';
