#!/usr/bin/env node
/**
 * tessera migrate | keys rotate [--now] | operator-token --email <address> [--name <name>] [--days <n>]
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
import { createAuditModule } from './modules/audit/index.js';
import { issueOperatorToken } from './modules/pats/operator.js';

const usage = `usage: tessera migrate
       tessera keys rotate         new signing key, published now, signing in ${KEY_ACTIVATION_DELAY_SECONDS / 60} minutes
       tessera keys rotate --now   emergency (compromised key): the new key signs at once
       tessera operator-token --email <address> [--name <name>] [--days <1-365, default 90>]
                                   make the account an operator and print a new operator token (scope admin), once`;

/** `operator-token --email e [--name n] [--days d]`, each flag once; null for anything else. */
function operatorTokenArgs(args: string[]): { email: string; name?: string; days?: number } | null {
  if (args[0] !== 'operator-token') return null;
  const flags = new Map<string, string>();
  for (let i = 1; i < args.length; i += 2) {
    const [flag, value] = [args[i]!, args[i + 1]];
    if (!['--email', '--name', '--days'].includes(flag) || value === undefined || flags.has(flag)) return null;
    flags.set(flag, value);
  }
  const email = flags.get('--email');
  const days = flags.get('--days');
  if (!email || (days !== undefined && !/^\d{1,3}$/.test(days))) return null;
  return { email, name: flags.get('--name'), days: days === undefined ? undefined : Number(days) };
}

async function main(args: string[]) {
  const config = loadConfig();
  const logger = createLogger(process.env.LOG_LEVEL ?? 'warn');
  const command = args.join(' ');
  const operatorToken = operatorTokenArgs(args);
  if (command !== 'migrate' && command !== 'keys rotate' && command !== 'keys rotate --now' && !operatorToken) {
    console.error(usage);
    process.exit(64);
  }
  const storage = await openStorage({ ...config, migrateOnStart: false }, logger);
  try {
    if (operatorToken) {
      await migrate(storage.db);
      const audit = createAuditModule({ db: storage.db, clock: systemClock, logger }).service;
      const issued = await issueOperatorToken(
        { db: storage.db, withTransaction: createUnitOfWork(storage.db), audit, clock: systemClock },
        operatorToken,
      );
      // The secret is shown here only (Tessera keeps its SHA-256): the last line, alone, for scripts.
      console.log(
        `${operatorToken.email} is an operator; operator token ${issued.id} (${issued.prefix}...), scope admin, expires ${issued.expiresAt.toISOString()}.`,
      );
      console.log('Store it now: it is not shown again.');
      console.log(issued.token);
    } else if (command === 'migrate') {
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
