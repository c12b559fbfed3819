import { DefaultLogger, Runtime } from '@temporalio/worker';

/**
 * Installs a Runtime that logs errors only: a simulation injects thousands of Feishu faults, each
 * of which the SDK would log as an activity failure. Must run before the first connection.
 */
export function installQuietRuntime(): void {
  Runtime.install({
    logger: new DefaultLogger('ERROR'),
    telemetryOptions: { logging: { forward: {}, filter: 'ERROR' } },
  });
}
