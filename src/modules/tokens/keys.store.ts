import type { Db } from '../../infra/db/connect.js';
import { sql } from 'kysely';

export function createSigningKeyStore(db: Db) {
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
    /** Inserts a key and retires the others, under a lock so two instances never both create one. */
    async insertIfNone(create: () => Promise<{ kid: string; alg: string; public_jwk: string; private_enc: string }>, force: boolean) {
      return db.transaction().execute(async (tx) => {
        await sql`select pg_advisory_xact_lock(727276)`.execute(tx);
        const active = await tx.selectFrom('signing_keys').select('kid').where('retired_at', 'is', null).executeTakeFirst();
        if (active && !force) return false;
        const key = await create();
        await tx.updateTable('signing_keys').set({ retired_at: new Date() }).where('retired_at', 'is', null).execute();
        await tx.insertInto('signing_keys').values(key).execute();
        return true;
      });
    },
  };
}

export type SigningKeyStore = ReturnType<typeof createSigningKeyStore>;
