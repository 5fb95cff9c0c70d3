import { sql, type Transaction } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { Database } from '../../infra/db/schema.js';

export type AuditRow = {
  id: string;
  occurred_at: Date;
  org_id: string | null;
  actor_id: string | null;
  action: string;
  target_type: string | null;
  target_id: string | null;
  ip: string | null;
  user_agent: string | null;
  data: Record<string, unknown>;
};

export function createAuditStore(db: Db) {
  return {
    /** Serialises appenders with a transaction-scoped lock so the chain never forks. */
    async append(row: AuditRow, hashOf: (prev: Buffer) => Buffer, trx?: Transaction<Database>) {
      const run = async (tx: Transaction<Database>) => {
        await sql`select pg_advisory_xact_lock(727275)`.execute(tx);
        const last = await tx.selectFrom('audit_events').select('hash').orderBy('seq', 'desc').limit(1).executeTakeFirst();
        const prev = last?.hash ?? Buffer.alloc(32);
        await tx
          .insertInto('audit_events')
          .values({ ...row, data: JSON.stringify(row.data), prev_hash: prev, hash: hashOf(prev) })
          .execute();
      };
      return trx ? run(trx) : db.transaction().execute(run);
    },
    listForActor(actorId: string, limit: number) {
      return db.selectFrom('audit_events').selectAll().where('actor_id', '=', actorId).orderBy('seq', 'desc').limit(limit).execute();
    },
    async *all(batch = 1000) {
      let after = '0';
      for (;;) {
        const rows = await db.selectFrom('audit_events').selectAll().where('seq', '>', after).orderBy('seq').limit(batch).execute();
        if (rows.length === 0) return;
        yield* rows;
        after = rows[rows.length - 1].seq;
      }
    },
  };
}

export type AuditStore = ReturnType<typeof createAuditStore>;
