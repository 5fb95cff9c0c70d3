import type { Selectable, Transaction } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { Database, UsersTable } from '../../infra/db/schema.js';
import { normalizeEmail } from './normalize-email.js';

type Tx = Transaction<Database>;
export type UserRow = Selectable<UsersTable>;
export type EmailTokenPurpose = 'verify_email' | 'reset_password';


export function createAccountStore(db: Db) {
  return {
    db,
    /** Returns false when the email is taken (the unique index decides, so races are safe). */
    async insertUser(user: { id: string; email: string; password_hash: string; name: string; locale: string | null; verified: boolean }, tx?: Tx) {
      const row = await (tx ?? db)
        .insertInto('users')
        .values({
          id: user.id,
          email: user.email.trim(),
          email_normalized: normalizeEmail(user.email),
          password_hash: user.password_hash,
          name: user.name,
          locale: user.locale,
          email_verified_at: user.verified ? new Date() : null,
        })
        .onConflict((oc) => oc.column('email_normalized').doNothing())
        .returning('id')
        .executeTakeFirst();
      return !!row;
    },
    findByEmail(email: string) {
      return db.selectFrom('users').selectAll().where('email_normalized', '=', normalizeEmail(email)).executeTakeFirst();
    },
    findById(id: string, tx?: Tx) {
      return (tx ?? db).selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst();
    },
    async update(id: string, patch: Partial<Pick<UserRow, 'name' | 'locale' | 'password_hash' | 'email_verified_at'>>, tx?: Tx) {
      return (tx ?? db)
        .updateTable('users')
        .set({ ...patch, updated_at: new Date() })
        .where('id', '=', id)
        .returningAll()
        .executeTakeFirst();
    },
    async delete(id: string, tx: Tx) {
      await tx.deleteFrom('users').where('id', '=', id).execute();
    },
    /** One outstanding link per purpose: a new one voids the previous. */
    async replaceEmailToken(t: { token_hash: Buffer; user_id: string; purpose: EmailTokenPurpose; email: string; expires_at: Date }) {
      await db.transaction().execute(async (tx) => {
        await tx.deleteFrom('email_tokens').where('user_id', '=', t.user_id).where('purpose', '=', t.purpose).where('used_at', 'is', null).execute();
        await tx.insertInto('email_tokens').values(t).execute();
      });
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
    consumeEmailToken(hash: Buffer, purpose: EmailTokenPurpose, now: Date, tx?: Tx) {
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
