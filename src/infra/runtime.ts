import { existsSync } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.js';
import { connectDb, type Db } from './db/connect.js';
import { startEmbeddedPostgres } from './db/embedded.js';
import { migrate } from './db/migrate.js';
import { createKeyring, generateKeySpec, type Keyring } from './keyring.js';
import type { KeyValueStore } from './kv/kv.js';
import { createMemoryKv } from './kv/memory.js';
import { createRedisKv } from './kv/redis.js';
import type { Logger } from './logger.js';
import { createLogMailer, createSmtpMailer, type Mailer } from './mailer.js';

export type Runtime = { db: Db; kv: KeyValueStore; mailer: Mailer; keyring: Keyring; close(): Promise<void> };

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

/** Opens what the service stands on: Postgres (embedded by default), the KV store, mail and keys. */
export async function openRuntime(config: Config, logger: Logger): Promise<Runtime> {
  const keyring = await loadKeyring(config, logger);
  let stopEmbedded: (() => Promise<void>) | undefined;
  let databaseUrl = config.databaseUrl;
  if (!databaseUrl) {
    const embedded = await startEmbeddedPostgres(path.join(config.dataDir), logger);
    databaseUrl = embedded.url;
    stopEmbedded = embedded.stop;
    logger.info({ dataDir: path.resolve(config.dataDir) }, 'embedded PostgreSQL started (no DATABASE_URL)');
  }
  const db = connectDb(databaseUrl, config.databasePoolSize);
  if (config.migrateOnStart) {
    const applied = await migrate(db);
    if (applied.length) logger.info({ applied }, 'migrations applied');
  }
  let kv: KeyValueStore;
  if (config.redisUrl) {
    kv = await createRedisKv(config.redisUrl, logger);
    logger.info('KV store: Redis');
  } else {
    kv = createMemoryKv();
    logger.warn('KV store: in-process (no REDIS_URL). Correct for ONE instance only: revocations, throttles and rate limits are not shared.');
  }
  const mailer = config.smtpUrl ? createSmtpMailer(config.smtpUrl, config.mailFrom) : createLogMailer(logger, config.mailFrom);
  if (!config.smtpUrl) logger.warn('no SMTP_URL: emails are written to this log instead of being sent');
  return {
    db,
    kv,
    mailer,
    keyring,
    async close() {
      await kv.close();
      await db.destroy();
      await stopEmbedded?.();
    },
  };
}
