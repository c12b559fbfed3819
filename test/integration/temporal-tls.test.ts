import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { NativeConnection } from '@temporalio/worker';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadTemporalConfig } from '../../lib/config.ts';
import { connectTemporal, temporalConnectionOptions } from '../../lib/temporal.ts';

const codec = {
  PAYLOAD_CODEC_KEYS: `c1:${Buffer.from(Array.from({ length: 32 }, (_, i) => i)).toString('base64')}`,
};

/** A self-signed certificate and its key, as PEM text. */
function certificate(dir: string, name: string): { cert: string; key: string } {
  const cert = path.join(dir, `${name}.crt`);
  const key = path.join(dir, `${name}.key`);
  execFileSync(
    'openssl',
    [
      ...['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'],
      ...['-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`],
      ...['-keyout', key, '-out', cert],
    ],
    { stdio: 'ignore' },
  );
  return { cert: readFileSync(cert, 'utf8'), key: readFileSync(key, 'utf8') };
}

interface Handshake {
  servername: unknown;
  clientCertificate: unknown;
}

/**
 * Stands in for a Temporal frontend that requires mTLS: it records each TLS handshake (the name
 * the client asked for, the certificate it presented) and then hangs up, so the connection fails
 * after the part under test.
 */
describe('the Temporal connection speaks TLS and mTLS as configured', () => {
  let server: tls.Server;
  let address: string;
  let env: Record<string, string>;
  const handshakes: Handshake[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'temporal-tls-'));
    const frontend = certificate(dir, 'temporal.internal');
    const client = certificate(dir, 'feishu-user-auth');
    server = tls.createServer(
      { cert: frontend.cert, key: frontend.key, ca: client.cert, requestCert: true, ALPNProtocols: ['h2'] },
      (socket) => {
        handshakes.push({
          servername: socket.servername,
          clientCertificate: socket.getPeerCertificate().subject?.CN,
        });
        socket.destroy();
      },
    );
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    address = `127.0.0.1:${(server.address() as AddressInfo).port}`;
    env = {
      ...codec,
      TEMPORAL_ADDRESS: address,
      TEMPORAL_TLS_CA: frontend.cert,
      TEMPORAL_TLS_CERT: client.cert,
      TEMPORAL_TLS_KEY: client.key,
      TEMPORAL_TLS_SERVER_NAME: 'temporal.internal',
    };
  });
  afterAll(() => server?.close());

  it('the API client and the worker connection present the client certificate to the named server', async () => {
    const config = loadTemporalConfig(env);
    await expect(connectTemporal(config)).rejects.toThrow(/TEMPORAL_ADDRESS/);
    await expect(NativeConnection.connect(temporalConnectionOptions(config))).rejects.toThrow();
    const seen = new Set(handshakes.map((h) => JSON.stringify(h)));
    expect([...seen]).toEqual([
      JSON.stringify({ servername: 'temporal.internal', clientCertificate: 'feishu-user-auth' }),
    ]);
    expect(handshakes.length).toBeGreaterThanOrEqual(2);
  });

  it('takes an API key (Temporal Cloud) with TLS on, and stays plaintext when nothing asks for TLS', () => {
    const cloud = temporalConnectionOptions(
      loadTemporalConfig({ ...codec, TEMPORAL_ADDRESS: 'ns.acct.tmprl.cloud:7233', TEMPORAL_API_KEY: 'k' }),
    );
    expect(cloud).toMatchObject({ apiKey: 'k', tls: {} });
    expect(temporalConnectionOptions(loadTemporalConfig({ ...codec, TEMPORAL_TLS: 'true' })).tls).toEqual({});
    expect(temporalConnectionOptions(loadTemporalConfig(codec))).toEqual({ address: '127.0.0.1:7233' });
  });

  it('refuses a client certificate without its key, and text that is not PEM, naming the variable', () => {
    const { TEMPORAL_TLS_KEY: _key, ...withoutKey } = env;
    expect(() => temporalConnectionOptions(loadTemporalConfig(withoutKey))).toThrow(
      /TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY/,
    );
    expect(() => loadTemporalConfig({ ...env, TEMPORAL_TLS_CA: '/etc/ssl/ca.pem' })).toThrow(
      /TEMPORAL_TLS_CA: must be PEM text/,
    );
  });
});
