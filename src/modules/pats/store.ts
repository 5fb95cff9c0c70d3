import type { Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { PatsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type PatRow = Selectable<PatsTable>;

/** What a use of a token needs (never the hash: it is the cache's key). */
export type LivePat = Pick<PatRow, 'id' | 'user_id' | 'org_id' | 'scopes' | 'created_at' | 'expires_at' | 'revoked_at'>;

/** What a revocation needs to record (the revocation row and the mark). */
export type RevokedRow = Pick<PatRow, 'id' | 'user_id' | 'org_id' | 'name' | 'expires_at'>;

const VIEW = ['id', 'user_id', 'name', 'prefix', 'org_id', 'scopes', 'created_at', 'last_used_at', 'expires_at'] as const;
const REVOKED = ['id', 'user_id', 'org_id', 'name', 'expires_at'] as const;

export type NewPatRow = Pick<
  PatRow,
  'id' | 'user_id' | 'org_id' | 'name' | 'prefix' | 'token_hash' | 'scopes' | 'expires_at' | 'created_at'
>;

/**
 * The pats table, and the one column of users this module keeps: `is_operator` (the CLI sets it,
 * every use of an operator token reads it).
 */
export function createPatStore(db: Db) {
  return {
    async insert(row: NewPatRow, ex: Executor = db) {
      await ex.insertInto('pats').values(row).execute();
    },

    /** Live tokens of an account (unrevoked and unexpired): the cap counts these. */
    async countLive(userId: string, now: Date, ex: Executor = db): Promise<number> {
      const row = await ex
        .selectFrom('pats')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },

    /** A token by its secret's hash, revoked or not (the caller decides). */
    findByHash(hash: Buffer): Promise<LivePat | undefined> {
      return db
        .selectFrom('pats')
        .select(['id', 'user_id', 'org_id', 'scopes', 'created_at', 'expires_at', 'revoked_at'])
        .where('token_hash', '=', hash)
        .executeTakeFirst();
    },

    /** An account's unrevoked tokens (expired ones too, until revoked), newest first. */
    listOfUser(userId: string) {
      return db
        .selectFrom('pats')
        .select(VIEW)
        .where('user_id', '=', userId)
        .where('revoked_at', 'is', null)
        .orderBy('created_at', 'desc')
        .execute();
    },

    /** An org's unrevoked tokens, newest first. */
    listOfOrg(orgId: string) {
      return db
        .selectFrom('pats')
        .select(VIEW)
        .where('org_id', '=', orgId)
        .where('revoked_at', 'is', null)
        .orderBy('created_at', 'desc')
        .execute();
    },

    /** Revokes the unrevoked tokens that match (all conditions given) and returns them. */
    revoke(
      where: { id?: string; userId?: string; orgId?: string; orgIds?: readonly string[] },
      reason: string,
      now: Date,
      ex: Executor = db,
    ): Promise<RevokedRow[]> {
      let query = ex.updateTable('pats').set({ revoked_at: now, revoked_reason: reason }).where('revoked_at', 'is', null);
      if (where.id) query = query.where('id', '=', where.id);
      if (where.userId) query = query.where('user_id', '=', where.userId);
      if (where.orgId) query = query.where('org_id', '=', where.orgId);
      if (where.orgIds) {
        if (where.orgIds.length === 0) return Promise.resolve([]);
        query = query.where('org_id', 'in', where.orgIds);
      }
      return query.returning(REVOKED).execute();
    },

    /** last_used_at (a KV gate lets this through at most once a minute per token). */
    async touch(id: string, at: Date) {
      await db.updateTable('pats').set({ last_used_at: at }).where('id', '=', id).execute();
    },

    /** Whether the account is an operator now (false when it is gone). */
    async isOperator(userId: string): Promise<boolean> {
      const row = await db.selectFrom('users').select('is_operator').where('id', '=', userId).executeTakeFirst();
      return row?.is_operator ?? false;
    },

    /** Makes the account with this (normalized) address an operator; its id, or null when there is none. */
    async markOperator(emailNormalized: string, ex: Executor = db): Promise<string | null> {
      const row = await ex
        .updateTable('users')
        .set({ is_operator: true })
        .where('email_normalized', '=', emailNormalized)
        .returning('id')
        .executeTakeFirst();
      return row?.id ?? null;
    },
  };
}

export type PatStore = ReturnType<typeof createPatStore>;
