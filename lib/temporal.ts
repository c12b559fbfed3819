import { Client, Connection, type TLSConfig } from '@temporalio/client';
import { ConfigError, type TemporalConfig, type TemporalConnectionConfig } from './config.ts';
import { grantDataConverter } from './data-converter.ts';

/**
 * How this service reaches Temporal: address, TLS or mTLS, and an API key (Temporal Cloud). One
 * place for the API's client and the worker's native connection, so neither can end up talking
 * in plaintext while the other does not.
 */
export function temporalConnectionOptions(config: TemporalConnectionConfig): {
  address: string;
  tls?: TLSConfig;
  apiKey?: string;
} {
  const { TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_CERT: crt, TEMPORAL_TLS_KEY: key } = config;
  if (Boolean(crt) !== Boolean(key)) {
    throw new ConfigError(
      'invalid configuration: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY (the client certificate) must be set together',
    );
  }
  const tls =
    config.TEMPORAL_TLS || ca || crt || config.TEMPORAL_TLS_SERVER_NAME || config.TEMPORAL_API_KEY
      ? {
          serverNameOverride: config.TEMPORAL_TLS_SERVER_NAME,
          serverRootCACertificate: ca ? Buffer.from(ca) : undefined,
          clientCertPair: crt && key ? { crt: Buffer.from(crt), key: Buffer.from(key) } : undefined,
        }
      : undefined;
  return { address: config.TEMPORAL_ADDRESS, tls, apiKey: config.TEMPORAL_API_KEY };
}

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
export async function connectTemporal(config: TemporalConfig): Promise<Client> {
  const options = temporalConnectionOptions(config);
  const connection = await connectOrExplain(config.TEMPORAL_ADDRESS, () =>
    Connection.connect({ ...options, connectTimeout: 5_000 }),
  );
  return new Client({
    connection,
    namespace: config.TEMPORAL_NAMESPACE,
    dataConverter: grantDataConverter(config.PAYLOAD_CODEC_KEYS),
  });
}
