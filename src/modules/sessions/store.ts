import { sql, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { SessionsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type NewSession = {
  id: string;
  user_id: string;
  org_id: string | null;
  aal: number;
  amr: string[];
  expires_at: Date;
  idle_ttl_seconds: number | null;
  ip: string | null;
  user_agent: string | null;
};

export function createSessionStore(db: Db) {
  return {
    /** Session and its first refresh token in one statement: one round trip on the login path. */
    async insertWithRefresh(session: NewSession, refreshHash: Buffer) {
      await sql`
        with s as (
          insert into sessions (id, user_id, org_id, aal, amr, expires_at, idle_ttl_seconds, ip, user_agent)
          values (${session.id}, ${session.user_id}, ${session.org_id}, ${session.aal}, ${session.amr}::text[],
                  ${session.expires_at}, ${session.idle_ttl_seconds}, ${session.ip}, ${session.user_agent})
          returning id
        )
        insert into refresh_tokens (token_hash, session_id) select ${refreshHash}, id from s`.execute(db);
    },

    /**
     * Spends a refresh token in one statement (atomic without BEGIN/COMMIT round trips). The
     * row lock makes concurrent callers queue; only the first sees used_at null and wins, the
     * rest get spentSessionId null and take the reuse path. A spent token of a dead session
     * returns no session: the caller refuses it.
     */
    async spend(hash: Buffer, successorHash: Buffer, successorEnc: string, now: Date) {
      const result = await sql<SessionRow & { spent_session_id: string | null }>`
        with spent as (
          update refresh_tokens set used_at = ${now}, successor_enc = ${successorEnc}
          where token_hash = ${hash} and used_at is null
          returning session_id
        ), s as (
          update sessions set last_seen_at = ${now}
          where id = (select session_id from spent) and revoked_at is null and expires_at > ${now}
            and (idle_ttl_seconds is null or last_seen_at > ${now}::timestamptz - make_interval(secs => idle_ttl_seconds))
          returning *
        ), ins as (
          insert into refresh_tokens (token_hash, session_id) select ${successorHash}, id from s
        )
        select (select session_id from spent) as spent_session_id, s.* from (select 1) as one left join s on true`.execute(db);
      const row = result.rows[0];
      if (!row?.spent_session_id) return null;
      return { sessionId: row.spent_session_id, session: row.id ? (row as SessionRow) : null };
    },

    findRefresh(hash: Buffer) {
      return db
        .selectFrom('refresh_tokens as r')
        .innerJoin('sessions as s', 's.id', 'r.session_id')
        .select(['r.used_at', 'r.successor_enc', 's.id as session_id', 's.revoked_at', 's.expires_at', 's.user_id'])
        .where('r.token_hash', '=', hash)
        .executeTakeFirst();
    },

    /** Issued and not yet spent: a successor that was never inserted (dead session) is not. */
    async isUnspent(hash: Buffer) {
      const row = await db.selectFrom('refresh_tokens').select('used_at').where('token_hash', '=', hash).executeTakeFirst();
      return !!row && !row.used_at;
    },

    findById(id: string) {
      return db.selectFrom('sessions').selectAll().where('id', '=', id).executeTakeFirst();
    },

    listActive(userId: string, now: Date) {
      return db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('last_seen_at', 'desc')
        .execute();
    },

    /** Revokes matching live sessions and returns their ids (for the revocation marks). */
    async revoke(
      where: { userId: string; sessionId?: string; exceptSessionId?: string },
      reason: string,
      now: Date,
      tx?: Executor,
    ): Promise<string[]> {
      let q = (tx ?? db)
        .updateTable('sessions')
        .set({ revoked_at: now, revoked_reason: reason })
        .where('user_id', '=', where.userId)
        .where('revoked_at', 'is', null);
      if (where.sessionId) q = q.where('id', '=', where.sessionId);
      if (where.exceptSessionId) q = q.where('id', '!=', where.exceptSessionId);
      const rows = await q.returning('id').execute();
      return rows.map((r) => r.id);
    },

    /** Sessions revoked recently enough that some access token of theirs may still be alive. */
    async revokedSince(since: Date) {
      return db.selectFrom('sessions').select(['id', 'revoked_at']).where('revoked_at', '>', since).execute();
    },
  };
}

export type SessionRow = Selectable<SessionsTable>;

export type SessionStore = ReturnType<typeof createSessionStore>;
