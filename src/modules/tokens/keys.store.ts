import { sql } from 'kysely';
import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type NewSigningKey = { kid: string; alg: string; public_jwk: string; private_enc: string };

export function createSigningKeyStore(db: Db, clock: Clock) {
  return {
    /** Current key first, then retired keys whose tokens may still be alive. */
    listUsable(since: Date) {
      return db
        .selectFrom('signing_keys')
        .selectAll()
        .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', since)]))
        .orderBy('created_at', 'desc')
        .execute();
    },
    /** Serialises key creation across instances until the transaction ends. */
    async lock(tx: Executor) {
      await sql`select pg_advisory_xact_lock(727276)`.execute(tx);
    },
    async hasActive(tx: Executor) {
      return !!(await tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst());
    },
    /** Retires the current key and makes `key` the one that signs. */
    async replaceActive(key: NewSigningKey, tx: Executor) {
      await tx.updateTable('signing_keys').set({ retired_at: clock.now() }).where('retired_at', 'is', null).execute();
      await tx.insertInto('signing_keys').values(key).execute();
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
