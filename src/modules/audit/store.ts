import { sql, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { AuditEventsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

/** An event as appended: the chain columns are the store's to fill in. */
export type AuditRow = Omit<Selectable<AuditEventsTable>, 'seq' | 'prev_hash' | 'hash'>;

export function createAuditStore(db: Db) {
  return {
    /**
     * One statement: advance the chain head (its row lock queues concurrent appenders, and an
     * UPDATE waiting on it re-reads the newest committed tail) and insert the event behind it.
     * hash = sha256(prev_hash || canonical event), computed by Postgres from the bytes we send.
     */
    async append(row: AuditRow, canonical: string, trx?: Executor) {
      await sql`
        with head as (
          update audit_chain_head
          set seq = seq + 1, prev_hash = hash, hash = sha256(hash || convert_to(${canonical}, 'UTF8'))
          returning seq, prev_hash, hash
        )
        insert into audit_events (seq, id, occurred_at, org_id, actor_id, action, target_type, target_id, ip, user_agent, data, prev_hash, hash)
        select head.seq, ${row.id}, ${row.occurred_at}, ${row.org_id}, ${row.actor_id}, ${row.action}, ${row.target_type},
               ${row.target_id}, ${row.ip}, ${row.user_agent}, ${JSON.stringify(row.data)}::jsonb, head.prev_hash, head.hash
        from head`.execute(trx ?? db);
    },
    /**
     * Many events in one transaction and one commit: the head row locked once, the chain
     * computed here (the same sha256(prev_hash || canonical) Postgres computes in append), every
     * row in one INSERT, the head moved to the last. Detached events go this way, so a burst of
     * logins shares one WAL flush instead of queueing one commit each behind the head's lock.
     */
    async appendMany(events: Array<{ row: AuditRow; canonical: string }>, chain: (prev: Buffer, canonical: string) => Buffer) {
      if (events.length === 0) return;
      await db.transaction().execute(async (trx) => {
        const head = await sql<{ seq: string; hash: Buffer }>`select seq, hash from audit_chain_head for update`.execute(trx);
        let seq = BigInt(head.rows[0].seq);
        let prev = head.rows[0].hash;
        const rows = events.map(({ row, canonical }) => {
          const hash = chain(prev, canonical);
          const out = { ...row, seq: String(++seq), data: JSON.stringify(row.data), prev_hash: prev, hash };
          prev = hash;
          return out;
        });
        await trx.insertInto('audit_events').values(rows).execute();
        const last = rows[rows.length - 1];
        await sql`update audit_chain_head set seq = ${last.seq}, prev_hash = ${last.prev_hash}, hash = ${last.hash}`.execute(trx);
      });
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
