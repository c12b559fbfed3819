import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';
import { grantDataConverter } from './data-converter';

/**
 * Connects to Temporal, turning a gRPC stack trace into one line naming TEMPORAL_ADDRESS. The
 * client encrypts what it sends and decrypts what it reads with the payload codec.
 */
export async function connectTemporal(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'PAYLOAD_CODEC_KEYS'>,
): Promise<Client> {
  let connection: Connection;
  try {
    connection = await Connection.connect({ address: config.TEMPORAL_ADDRESS, connectTimeout: 5_000 });
  } catch (err) {
    throw new Error(
      `cannot connect to Temporal at ${config.TEMPORAL_ADDRESS} (TEMPORAL_ADDRESS): ${(err as Error).message}`,
    );
  }
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: grantDataConverter(config.PAYLOAD_CODEC_KEYS),
  });
}
