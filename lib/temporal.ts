import { Client, Connection } from '@temporalio/client';
import type { Config } from './config';
import { grantDataConverter } from './data-converter';

/**
 * Runs `connect` (a client's or a worker's connection), turning a gRPC stack trace into one line
 * that names TEMPORAL_ADDRESS, the setting to check.
 */
export async function connectOrExplain<T>(
  address: string,
  connect: (address: string) => Promise<T>,
): Promise<T> {
  try {
    return await connect(address);
  } catch (err) {
    throw new Error(`cannot connect to Temporal at ${address} (TEMPORAL_ADDRESS): ${(err as Error).message}`);
  }
}

/** A client that encrypts what it sends and decrypts what it reads with the payload codec. */
export async function connectTemporal(
  config: Pick<Config, 'TEMPORAL_ADDRESS' | 'TEMPORAL_NAMESPACE' | 'PAYLOAD_CODEC_KEYS'>,
): Promise<Client> {
  const connection = await connectOrExplain(config.TEMPORAL_ADDRESS, (address) =>
    Connection.connect({ address, connectTimeout: 5_000 }),
  );
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: grantDataConverter(config.PAYLOAD_CODEC_KEYS),
  });
}
