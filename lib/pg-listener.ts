import type pg from 'pg';
import type { Db } from './db.ts';
import type { Logger } from './logger.ts';

export interface PgListenerOptions {
  db: Db;
  channel: string;
  logger: Logger;
  /** Names the listener in the log line of a lost connection. */
  purpose: string;
  onNotify: (payload: string) => void;
  /** The connection failed: notifications sent meanwhile are lost, so the caller looks again. */
  onLost?: () => void;
}

/**
 * One LISTEN connection taken from the pool, opened on demand and again after it fails. A
 * process holds one per channel, however many requests wait on it.
 */
export class PgListener {
  private connection: Promise<pg.PoolClient> | undefined;

  constructor(private readonly options: PgListenerOptions) {}

  /** Resolves once the channel is listened to; rejects when no connection could be had. */
  ensure(): Promise<pg.PoolClient> {
    this.connection ??= this.open().catch((err: unknown) => {
      this.connection = undefined;
      throw err;
    });
    return this.connection;
  }

  async stop(): Promise<void> {
    const connection = this.connection;
    this.connection = undefined;
    (await connection?.catch(() => undefined))?.release(true);
  }

  private async open(): Promise<pg.PoolClient> {
    const { db, channel, logger, purpose, onNotify, onLost } = this.options;
    const client = await db.connect();
    client.on('notification', (message) => {
      if (message.channel === channel && message.payload) onNotify(message.payload);
    });
    // A broken connection can emit more than one error (a terminated connection, then the
    // reset): every one must have a listener, or the process dies; the first releases it.
    let failed = false;
    client.on('error', (err: Error) => {
      if (failed) return;
      failed = true;
      logger.warn({ err }, `the ${purpose} LISTEN connection failed; reconnecting`);
      this.connection = undefined;
      client.release(err);
      onLost?.();
    });
    try {
      await client.query(`LISTEN ${channel}`);
    } catch (err) {
      client.release(true);
      throw err;
    }
    return client;
  }
}
