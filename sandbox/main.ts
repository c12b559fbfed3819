import pino from 'pino';
import { startSandbox } from './index.ts';

/** `npm start` without Feishu credentials: one sandbox app configured from SANDBOX_* variables. */
const env = process.env;
const logger = pino({ name: 'feishu-sandbox', level: env.LOG_LEVEL ?? 'info' });

const mode = env.SANDBOX_CALLBACK_MODE ?? 'ws';
if (mode !== 'ws' && mode !== 'http') {
  logger.fatal(`SANDBOX_CALLBACK_MODE must be ws or http, got ${mode}`);
  process.exit(1);
}
const port = Number(env.SANDBOX_PORT ?? 3100);
if (!Number.isInteger(port) || port < 0 || port > 65535) {
  logger.fatal(`SANDBOX_PORT must be a port number, got ${env.SANDBOX_PORT}`);
  process.exit(1);
}

try {
  const sandbox = await startSandbox({
    port,
    host: env.SANDBOX_HOST ?? '127.0.0.1',
    apps: [
      {
        appId: env.SANDBOX_APP_ID ?? 'cli_a0b1c2d3e4f50617',
        appSecret: env.SANDBOX_APP_SECRET ?? 'sandbox-app-secret',
        redirectUris: (
          env.SANDBOX_REDIRECT_URIS ??
          'http://localhost:3000/oauth/callback,http://127.0.0.1:3000/oauth/callback'
        )
          .split(',')
          .map((u) => u.trim())
          .filter(Boolean),
        callback: {
          mode,
          url: env.SANDBOX_CALLBACK_URL,
          encryptKey: env.SANDBOX_ENCRYPT_KEY,
          verificationToken: env.SANDBOX_VERIFICATION_TOKEN,
        },
      },
    ],
    logger,
  });
  logger.info(
    { url: sandbox.url, appId: sandbox.state.apps()[0]!.appId, callbackMode: mode },
    'feishu sandbox listening',
  );
  const shutdown = (signal: string) => {
    logger.info({ signal }, 'feishu sandbox stopping');
    sandbox.close().then(
      () => process.exit(0),
      (err: unknown) => {
        logger.error({ err }, 'feishu sandbox did not close cleanly');
        process.exit(1);
      },
    );
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
} catch (err) {
  logger.fatal({ err }, 'feishu sandbox failed to start');
  process.exit(1);
}
