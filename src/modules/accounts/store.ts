import { sql, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { Clock } from '../../infra/clock.js';
import type { UsersTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';
import { normalizeEmail } from './normalize-email.js';

export type UserRow = Selectable<UsersTable>;
export type EmailTokenPurpose = 'verify_email' | 'reset_password';

export function createAccountStore(db: Db, clock: Clock) {
  return {
    /** Returns false when the email is taken (the unique index decides, so races are safe). */
    async insertUser(
      user: { id: string; email: string; password_hash: string; name: string; locale: string | null; verified: boolean },
      tx?: Executor,
    ) {
      const row = await (tx ?? db)
        .insertInto('users')
        .values({
          id: user.id,
          email: user.email.trim(),
          email_normalized: normalizeEmail(user.email),
          password_hash: user.password_hash,
          name: user.name,
          locale: user.locale,
          email_verified_at: user.verified ? clock.now() : null,
        })
        .onConflict((oc) => oc.column('email_normalized').doNothing())
        .returning('id')
        .executeTakeFirst();
      return !!row;
    },
    /** Several accounts at once (the team list). */
    findByIds(ids: readonly string[]) {
      if (ids.length === 0) return Promise.resolve([] as UserRow[]);
      return db.selectFrom('users').selectAll().where('id', 'in', ids).execute();
    },
    findByEmail(email: string) {
      return db.selectFrom('users').selectAll().where('email_normalized', '=', normalizeEmail(email)).executeTakeFirst();
    },
    findById(id: string, tx?: Executor) {
      return (tx ?? db).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async update(id: string, patch: Partial<Pick<UserRow, 'name' | 'locale' | 'password_hash' | 'email_verified_at'>>, tx?: Executor) {
      return (tx ?? db)
        .updateTable('users')
        .set({ ...patch, updated_at: clock.now() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
    },
    async setMfaEnabled(id: string, enabled: boolean, tx: Executor) {
      await tx.updateTable('users').set({ mfa_enabled: enabled }).where('id', '=', id).execute();
    },
    /** Locks the account row until the transaction ends; false when the account is gone. */
    async lock(id: string, tx: Executor) {
      return !!(await tx.selectFrom('users').select('id').where('id', '=', id).forUpdate().executeTakeFirst());
    },
    async delete(id: string, tx: Executor) {
      await tx.deleteFrom('users').where('id', '=', id).execute();
    },
    /** One outstanding link per purpose: a new one voids the previous. */
    async replaceEmailToken(t: { token_hash: Buffer; user_id: string; purpose: EmailTokenPurpose; email: string; expires_at: Date }) {
      // One statement, so the old link is void exactly when the new one exists.
      await sql`
        with voided as (
          delete from email_tokens where user_id = ${t.user_id} and purpose = ${t.purpose} and used_at is null
        )
        insert into email_tokens (token_hash, user_id, purpose, email, expires_at)
        values (${t.token_hash}, ${t.user_id}, ${t.purpose}, ${t.email}, ${t.expires_at})`.execute(db);
    },
    /** Voids every outstanding link of these purposes (a spent one stays, as the record of its use). */
    async voidEmailTokens(userId: string, purposes: EmailTokenPurpose[], tx: Executor) {
      await tx
        .deleteFrom('email_tokens')
        .where('user_id', '=', userId)
        .where('purpose', 'in', purposes)
        .where('used_at', 'is', null)
        .execute();
    },
    peekEmailToken(hash: Buffer, purpose: EmailTokenPurpose, now: Date) {
      return db
        .selectFrom('email_tokens')
        .select(['user_id', 'email'])
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .executeTakeFirst();
    },
    /** Spends a link atomically: two clicks, one success. */
    consumeEmailToken(hash: Buffer, purpose: EmailTokenPurpose, now: Date, tx?: Executor) {
      return (tx ?? db)
        .updateTable('email_tokens')
        .set({ used_at: now })
        .where('token_hash', '=', hash)
        .where('purpose', '=', purpose)
        .where('used_at', 'is', null)
        .where('expires_at', '>', now)
        .returning(['user_id', 'email'])
        .executeTakeFirst();
    },
  };
}

export type AccountStore = ReturnType<typeof createAccountStore>;
