import { sql, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { SessionsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

/** Who spent a refresh token: a grace retry is answered for this client only. */
export type SpendingClient = { ip: string; userAgent: string | null };

/** A refresh that moves its session to another org (or to none), with that org's lifetimes. */
export type SwitchOrg = { orgId: string | null; absoluteTtl: number | null; idleTtl: number | null };

/** A session just revoked, and until when its revocation matters (null: it no longer does). */
export type RevokedSession = { id: string; until: Date | null };

const FOREIGN_KEY_VIOLATION = '23503';

/** Whether err is Postgres's error `code` on `constraint`. */
function violates(err: unknown, code: string, constraint: string): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === code && e.constraint === constraint;
}

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
  /** What proved the second factor (null: the password alone). */
  auth_method: string | null;
  /** When it was authenticated, and so created and last seen (the clock's now: idle and absolute limits compare against the same clock). */
  auth_at: Date;
};

/** How recently, and how strongly, a session last proved who is behind it. */
export type AuthState = { userId: string; authAt: Date; authAal: number; aal: number; amr: string[] };

export function createSessionStore(db: Db) {
  return {
    /**
     * Session and its first refresh token in one statement: one round trip on the login path.
     * False when the account is gone: a login that raced its account's deletion, whose insert
     * waited for the deletion to commit and then found no users row to refer to.
     */
    async insertWithRefresh(session: NewSession, refreshHash: Buffer): Promise<boolean> {
      try {
        await sql`
          with s as (
            insert into sessions (id, user_id, org_id, aal, amr, expires_at, idle_ttl_seconds, ip, user_agent, auth_at, auth_aal,
                                  created_at, last_seen_at, auth_method)
            values (${session.id}, ${session.user_id}, ${session.org_id}, ${session.aal}, ${session.amr}::text[],
                    ${session.expires_at}, ${session.idle_ttl_seconds}, ${session.ip}, ${session.user_agent},
                    ${session.auth_at}, ${session.aal}, ${session.auth_at}, ${session.auth_at}, ${session.auth_method})
            returning id
          )
          insert into refresh_tokens (token_hash, session_id) select ${refreshHash}, id from s`.execute(db);
        return true;
      } catch (err) {
        if (violates(err, FOREIGN_KEY_VIOLATION, 'sessions_user_id_fkey')) return false;
        throw err;
      }
    },

    /**
     * Spends a refresh token in one statement (atomic without BEGIN/COMMIT round trips) and
     * returns its live session, or null when the token cannot be spent: unknown, already spent
     * (a concurrent caller won, or a replay), or its session is revoked, expired or idle.
     *
     * Locks are taken session row first, then the token row, the order in which an account
     * deletion takes them (its cascade goes from sessions to refresh_tokens): a refresh racing
     * the deletion waits for it instead of deadlocking with it. Concurrent callers queue on the
     * session row; only the first still finds the token unspent.
     */
    async spend(
      hash: Buffer,
      successorHash: Buffer,
      successorEnc: string,
      client: SpendingClient,
      now: Date,
      switchTo?: SwitchOrg,
    ): Promise<SessionRow | null> {
      // An org switch takes the new org's lifetimes where they are shorter (the absolute one counted from login).
      const switching = switchTo
        ? sql`, org_id = ${switchTo.orgId}
              ${switchTo.absoluteTtl ? sql`, expires_at = least(expires_at, created_at + make_interval(secs => ${switchTo.absoluteTtl}))` : sql``}
              ${switchTo.idleTtl ? sql`, idle_ttl_seconds = least(coalesce(idle_ttl_seconds, ${switchTo.idleTtl}), ${switchTo.idleTtl})` : sql``}`
        : sql``;
      const result = await sql<SessionRow>`
        with s as (
          update sessions set last_seen_at = ${now} ${switching}
          where id = (select session_id from refresh_tokens where token_hash = ${hash} and used_at is null)
            and revoked_at is null and expires_at > ${now}
            and (idle_ttl_seconds is null or last_seen_at > ${now}::timestamptz - make_interval(secs => idle_ttl_seconds))
          returning *
        ), spent as (
          update refresh_tokens
          set used_at = ${now}, successor_enc = ${successorEnc}, spent_ip = ${client.ip}, spent_user_agent = ${client.userAgent}
          where token_hash = ${hash} and used_at is null and session_id = (select id from s)
          returning session_id
        ), ins as (
          insert into refresh_tokens (token_hash, session_id) select ${successorHash}, session_id from spent
        )
        select s.* from s where exists (select 1 from spent)`.execute(db);
      return result.rows[0] ?? null;
    },

    /** The live session behind an unspent refresh token (an org switch is checked before spending). */
    async peekRefresh(hash: Buffer, now: Date) {
      return db
        .selectFrom('refresh_tokens as r')
        .innerJoin('sessions as s', 's.id', 'r.session_id')
        .select(['s.user_id', 's.org_id', 's.aal', 's.auth_method'])
        .where('r.token_hash', '=', hash)
        .where('r.used_at', 'is', null)
        .where('s.revoked_at', 'is', null)
        .where('s.expires_at', '>', now)
        .executeTakeFirst();
    },

    /** Gives a just-spent token back (its successor unused and gone): the refresh was refused after spending. */
    async unspend(hash: Buffer, successorHash: Buffer) {
      await sql`
        with gone as (delete from refresh_tokens where token_hash = ${successorHash} and used_at is null returning session_id)
        update refresh_tokens set used_at = null, successor_enc = null, spent_ip = null, spent_user_agent = null
        where token_hash = ${hash} and session_id = (select session_id from gone)`.execute(db);
    },

    /** An org's shorter session lifetimes reach its live sessions (the absolute one counted from login). */
    async applyOrgLimits(orgId: string, absoluteTtl: number | null, idleTtl: number | null, now: Date, tx: Executor) {
      await sql`
        update sessions
           set expires_at = ${absoluteTtl ? sql`least(expires_at, created_at + make_interval(secs => ${absoluteTtl}))` : sql`expires_at`},
               idle_ttl_seconds = ${idleTtl ? sql`least(coalesce(idle_ttl_seconds, ${idleTtl}), ${idleTtl})` : sql`idle_ttl_seconds`}
         where org_id = ${orgId} and revoked_at is null and expires_at > ${now}`.execute(tx);
    },

    /** Live sessions of a user in an org, or in none (which could switch into it): what an org admin sees of a member. */
    listActiveInOrg(userId: string, orgId: string, now: Date) {
      return db
        .selectFrom('sessions')
        .selectAll()
        .where('user_id', '=', userId)
        .where((eb) => eb.or([eb('org_id', '=', orgId), eb('org_id', 'is', null)]))
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .orderBy('last_seen_at', 'desc')
        .execute();
    },

    /** Each user's last login (the newest session's start), for the team list. */
    async lastLogins(userIds: readonly string[]): Promise<Map<string, Date>> {
      if (userIds.length === 0) return new Map();
      const rows = await db
        .selectFrom('sessions')
        .select(['user_id', (eb) => eb.fn.max('created_at').as('last')])
        .where('user_id', 'in', userIds)
        .groupBy('user_id')
        .execute();
      return new Map(rows.map((r) => [r.user_id, new Date(r.last as unknown as string)]));
    },

    /** A spent token as the reuse and grace checks need it, with its session's state. */
    findRefresh(hash: Buffer) {
      return db
        .selectFrom('refresh_tokens as r')
        .innerJoin('sessions as s', 's.id', 'r.session_id')
        .select([
          'r.used_at',
          'r.successor_enc',
          'r.spent_ip',
          'r.spent_user_agent',
          'r.replayed_at',
          's.id as session_id',
          's.revoked_at',
          's.expires_at',
          's.user_id',
        ])
        .where('r.token_hash', '=', hash)
        .executeTakeFirst();
    },

    /**
     * Takes the one grace retry of a spent token, atomically: only while no retry has been
     * answered, its successor is still unspent and its session alive. Returns the session, or
     * null when any of that no longer holds (a concurrent retry took it first, say).
     */
    async claimReplay(hash: Buffer, successorHash: Buffer, now: Date): Promise<SessionRow | null> {
      const result = await sql<SessionRow>`
        with claimed as (
          update refresh_tokens r set replayed_at = ${now}
          where r.token_hash = ${hash} and r.used_at is not null and r.replayed_at is null
            and exists (select 1 from refresh_tokens n where n.token_hash = ${successorHash} and n.used_at is null)
          returning r.session_id
        )
        select s.* from sessions s
        where s.id = (select session_id from claimed) and s.revoked_at is null and s.expires_at > ${now}`.execute(db);
      return result.rows[0] ?? null;
    },

    async authState(sessionId: string, now: Date): Promise<AuthState | null> {
      const row = await db
        .selectFrom('sessions')
        .select(['user_id', 'auth_at', 'auth_aal', 'aal', 'amr'])
        .where('id', '=', sessionId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
      return row ? { userId: row.user_id, authAt: row.auth_at, authAal: row.auth_aal, aal: row.aal, amr: row.amr } : null;
    },

    /**
     * A reauthentication: the session is fresh again, at the level just proved. The session's
     * own aal and amr only ever grow (a second factor proved now lifts the next refresh's token).
     */
    async recordAuthentication(sessionId: string, userId: string, aal: number, amr: string[], now: Date): Promise<boolean> {
      const result = await sql`
        update sessions
           set auth_at = ${now}, auth_aal = ${aal}, aal = greatest(aal, ${aal}),
               amr = amr || array(select m from unnest(${amr}::text[]) with ordinality as u(m, i) where m <> all(amr) order by i)
         where id = ${sessionId} and user_id = ${userId} and revoked_at is null and expires_at > ${now}`.execute(db);
      return Number(result.numAffectedRows ?? 0) > 0;
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

    /**
     * Revokes matching sessions and records each revocation in the revocations table, in one
     * statement (so on the transaction given, when given one). A revocation row is written for
     * the sessions some access token of which may still be alive: until `horizonSeconds` after
     * the revocation, or after the session's own end if that came first. Returns every revoked
     * session, with the end of its revocation row (null: none was needed).
     */
    async revoke(
      where: { userId?: string; sessionId?: string; exceptSessionId?: string; orgId?: string; orgOrNone?: string },
      reason: string,
      now: Date,
      horizonSeconds: number,
      tx?: Executor,
    ): Promise<RevokedSession[]> {
      const until = sql`least(${now}::timestamptz, expires_at) + make_interval(secs => ${horizonSeconds})`;
      const result = await sql<RevokedSession>`
        with revoked as (
          update sessions set revoked_at = ${now}, revoked_reason = ${reason}
          where revoked_at is null
            ${where.userId ? sql`and user_id = ${where.userId}` : sql``}
            ${where.sessionId ? sql`and id = ${where.sessionId}` : sql``}
            ${where.exceptSessionId ? sql`and id <> ${where.exceptSessionId}` : sql``}
            ${where.orgId ? sql`and org_id = ${where.orgId}` : sql``}
            ${where.orgOrNone ? sql`and (org_id = ${where.orgOrNone} or org_id is null)` : sql``}
          returning id, user_id, org_id, ${until} as matters_until
        ), recorded as (
          insert into revocations (kind, session_id, user_id, org_id, reason, revoked_at, expires_at)
          select 'session', id, user_id, org_id, ${reason}::text, ${now}::timestamptz, matters_until
          from revoked where matters_until > ${now}::timestamptz
          returning session_id, expires_at
        )
        select revoked.id, recorded.expires_at as until from revoked left join recorded on recorded.session_id = revoked.id`.execute(
        tx ?? db,
      );
      return result.rows;
    },

    /** Session, personal access token and member revocations that still matter (the reload of the KV store's marks). */
    liveSessionRevocations(now: Date) {
      return db
        .selectFrom('revocations')
        .select(['kind', 'session_id', 'pat_id', 'org_id', 'user_id', 'not_before', 'expires_at'])
        .where('kind', 'in', ['session', 'pat', 'org_member_not_before'])
        .where('expires_at', '>', now)
        .orderBy('id')
        .execute();
    },

    /** Records revoked personal access tokens (kind 'pat'), on the caller's transaction when given. */
    async recordPatRevocations(
      rows: ReadonlyArray<{ patId: string; userId: string; orgId: string | null; reason: string; at: Date; until: Date }>,
      ex: Executor = db,
    ) {
      if (rows.length === 0) return;
      await ex
        .insertInto('revocations')
        .values(
          rows.map((r) => ({
            kind: 'pat' as const,
            pat_id: r.patId,
            user_id: r.userId,
            org_id: r.orgId,
            reason: r.reason,
            revoked_at: r.at,
            expires_at: r.until,
          })),
        )
        .execute();
    },

    /** Records members' not-before times (a role change, a removal), on the caller's transaction. */
    async recordMemberNotBefore(rows: Array<{ orgId: string; userId: string; at: Date; until: Date; reason: string }>, tx: Executor) {
      if (rows.length === 0) return;
      await tx
        .insertInto('revocations')
        .values(
          rows.map((r) => ({
            kind: 'org_member_not_before' as const,
            org_id: r.orgId,
            user_id: r.userId,
            not_before: r.at,
            reason: r.reason,
            expires_at: r.until,
          })),
        )
        .execute();
    },
  };
}

export type SessionRow = Selectable<SessionsTable>;

export type SessionStore = ReturnType<typeof createSessionStore>;
