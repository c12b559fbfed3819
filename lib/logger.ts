import { pino, type DestinationStream, type Logger } from 'pino';

/**
 * Paths pino censors wherever they appear, so a token or secret that reaches a log call by
 * accident is replaced rather than written. Code should not log secrets in the first place.
 */
export const REDACTED_PATHS = [
  'access_token',
  'refresh_token',
  'accessToken',
  'refreshToken',
  'app_secret',
  'appSecret',
  'code',
  'code_verifier',
  'codeVerifier',
  'authorization',
  'headers.authorization',
  'req.headers.authorization',
  'req.headers.cookie',
  'secret',
  'token',
  '*.access_token',
  '*.refresh_token',
  '*.accessToken',
  '*.refreshToken',
  '*.app_secret',
  '*.appSecret',
  '*.secret',
  '*.token',
  '*.code_verifier',
  '*.authorization',
];

export function createLogger(
  name: string,
  level = process.env.LOG_LEVEL ?? 'info',
  destination?: DestinationStream,
): Logger {
  const options = {
    name,
    level,
    redact: { paths: REDACTED_PATHS, censor: '[redacted]' },
    formatters: { level: (label: string) => ({ level: label }) },
    timestamp: pino.stdTimeFunctions.isoTime,
  };
  return destination ? pino(options, destination) : pino(options);
}

export type { Logger };
