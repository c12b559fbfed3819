import type { Config } from '../../lib/config.ts';
import type { Supervisor } from './processes.ts';
import { waitFor } from './run.ts';

/**
 * Points the service at the Feishu sandbox on `port` instead of Feishu: the generated sandbox app
 * (.data/local.env) and the keys the sandbox signs and encrypts HTTP callbacks with, as Feishu does.
 */
export function useLocalSandbox(env: NodeJS.ProcessEnv, port: number): void {
  const sandboxUrl = `http://127.0.0.1:${port}`;
  env.FEISHU_APP_ID = env.SANDBOX_APP_ID;
  env.FEISHU_APP_SECRET = env.SANDBOX_APP_SECRET;
  env.FEISHU_DOMAIN = sandboxUrl;
  env.FEISHU_OAUTH_DOMAIN = sandboxUrl;
  env.FEISHU_ENCRYPT_KEY ??= env.SANDBOX_ENCRYPT_KEY;
  env.FEISHU_VERIFICATION_TOKEN ??= env.SANDBOX_VERIFICATION_TOKEN;
}

/** Runs the sandbox (sandbox/main.ts) for the service `config` describes, and waits until it answers. */
export async function startSandboxProcess(
  supervisor: Supervisor,
  env: NodeJS.ProcessEnv,
  config: Config,
  port: number,
): Promise<void> {
  supervisor.start('sandbox', 'sandbox/main.ts', {
    ...env,
    SANDBOX_PORT: String(port),
    SANDBOX_REDIRECT_URIS: `${config.PUBLIC_BASE_URL}/oauth/callback`,
    SANDBOX_CALLBACK_MODE: config.FEISHU_CALLBACK_MODE,
    SANDBOX_CALLBACK_URL: `${config.PUBLIC_BASE_URL}/feishu/events`,
    SANDBOX_ENCRYPT_KEY: config.FEISHU_ENCRYPT_KEY ?? '',
    SANDBOX_VERIFICATION_TOKEN: config.FEISHU_VERIFICATION_TOKEN ?? '',
  });
  await waitFor(
    'the Feishu sandbox',
    async () => (await fetch(`${config.FEISHU_DOMAIN}/healthz`)).ok,
    30_000,
  );
}
