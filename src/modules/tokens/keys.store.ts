import { sql } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type NewSigningKey = { kid: string; alg: string; public_jwk: string; private_enc: string };

export function createSigningKeyStore(db: Db) {
  return {
    /** Pending and signing keys, then retired keys whose tokens may still be alive; newest activation first. */
    listUsable(since: Date) {
      return db
        .selectFrom('signing_keys')
        .selectAll()
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', since)]))
        .orderBy('activates_at', 'desc')
        .orderBy('created_at', 'desc')
        .execute();
    },
    /** Serialises key creation across instances until the transaction ends. */
    async lock(tx: Executor) {
      await sql`select pg_advisory_xact_lock(727276)`.execute(tx);
    },
    /** Keys that sign now or will: not retired, or retired only in the future. */
    async unretired(now: Date, tx: Executor) {
      return tx
        .selectFrom('signing_keys')
        .select(['kid', 'activates_at', 'retired_at'])
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', now)]))
        .orderBy('activates_at', 'desc')
        .execute();
    },
    /**
     * Adds `key`, signing from `activatesAt`; every key not retired by then stops at that moment.
     * With `activatesAt` now, that is an immediate switch.
     */
    async schedule(key: NewSigningKey, activatesAt: Date, tx: Executor) {
      await tx
        .updateTable('signing_keys')
        .set({ retired_at: activatesAt })
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', activatesAt)]))
        .execute();
      await tx
        .insertInto('signing_keys')
        .values({ ...key, activates_at: activatesAt })
        .execute();
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
