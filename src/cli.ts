#!/usr/bin/env node
/**
 * tessera migrate | keys rotate
 * Operator commands against the configured DATABASE_URL (or the embedded database in DATA_DIR).
 */
import { loadConfig } from './config.js';
import { createLogger } from './infra/logger.js';
import { openRuntime } from './infra/runtime.js';
import { migrate } from './infra/db/migrate.js';
import { createSigningKeyStore } from './modules/tokens/keys.store.js';
import { createKeyService } from './modules/tokens/keys.service.js';
import { systemClock } from './infra/clock.js';
import { createUnitOfWork } from './infra/db/unit-of-work.js';

const usage = 'usage: tessera migrate | tessera keys rotate';

async function main(args: string[]) {
  const config = loadConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const command = args.join(' ');
  if (command !== 'migrate' && command !== 'keys rotate') {
    console.error(usage);
    process.exit(64);
  }
  const runtime = await openRuntime({ ...config, migrateOnStart: false }, logger);
  try {
    if (command === 'migrate') {
      const applied = await migrate(runtime.db);
      console.log(applied.length ? `applied: ${applied.join(', ')}` : 'database is up to date');
    } else {
      await migrate(runtime.db);
      const keys = createKeyService({
        withTransaction: createUnitOfWork(runtime.db),
        store: createSigningKeyStore(runtime.db, systemClock),
        keyring: runtime.keyring,
        clock: systemClock,
        alg: config.jwtAlg,
        accessTokenTtl: config.accessTokenTtl,
      });
      await keys.rotate();
      // Instances pick the new key up when they meet its kid; the old key stays in the JWKS.
      console.log(`new signing key: ${keys.signingKey().kid}`);
    }
  } finally {
    await runtime.close();
  }
}

main(process.argv.slice(2)).catch((err: Error) => {
  console.error(`tessera: ${err.message}`);
  process.exit(1);
});
