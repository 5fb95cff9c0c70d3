#!/usr/bin/env node
/**
 * tessera migrate | keys rotate [--now]
 * Operator commands against the configured DATABASE_URL (or the embedded database in DATA_DIR).
 * They need the database and the encryption keys, not the mail or Redis settings of the server.
 */
import { loadConfig } from './config.js';
import { createLogger } from './infra/logger.js';
import { openStorage } from './infra/runtime.js';
import { migrate } from './infra/db/migrate.js';
import { createSigningKeyStore } from './modules/tokens/keys.store.js';
import { createKeyService, KEY_ACTIVATION_DELAY_SECONDS } from './modules/tokens/keys.service.js';
import { systemClock } from './infra/clock.js';
import { createUnitOfWork } from './infra/db/unit-of-work.js';

const usage = `usage: tessera migrate
       tessera keys rotate         new signing key, published now, signing in ${KEY_ACTIVATION_DELAY_SECONDS / 60} minutes
       tessera keys rotate --now   emergency (compromised key): the new key signs at once`;

async function main(args: string[]) {
  const config = loadConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const command = args.join(' ');
  if (command !== 'migrate' && command !== 'keys rotate' && command !== 'keys rotate --now') {
    console.error(usage);
    process.exit(64);
  }
  const storage = await openStorage({ ...config, migrateOnStart: false }, logger);
  try {
    if (command === 'migrate') {
      const applied = await migrate(storage.db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } else {
      await migrate(storage.db);
      const keys = createKeyService({
        withTransaction: createUnitOfWork(storage.db),
        store: createSigningKeyStore(storage.db),
        keyring: storage.keyring,
        clock: systemClock,
        alg: config.jwtAlg,
        accessTokenTtl: config.accessTokenTtl,
      });
      const now = command.endsWith('--now');
      const rotation = await keys.rotate({ now });
      const at = rotation.activatesAt.toISOString();
      if (!rotation.created) {
        console.log(`a rotation is already scheduled: key ${rotation.kid} signs from ${at} (use --now to switch at once)`);
      } else if (rotation.activatesAt.getTime() <= Date.now()) {
        // Instances load it within a minute, or at once when they meet its kid.
        console.log(`new signing key: ${rotation.kid}, signing now`);
      } else {
        // Published by every instance within a minute; verifiers' cached JWKS expire before it signs.
        console.log(`new signing key: ${rotation.kid}, published now, signing from ${at}`);
      }
    }
  } finally {
    await storage.close();
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`tessera: ${err.message}`);
  process.exit(1);
});
