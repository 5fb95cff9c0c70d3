import { sql, type ExpressionBuilder, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { Database, OrgInvitationsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type InvitationRow = Selectable<OrgInvitationsTable>;
export type NewInvitation = Pick<
  InvitationRow,
  'id' | 'org_id' | 'email' | 'email_normalized' | 'name' | 'roles' | 'token_hash' | 'invited_by' | 'expires_at'
>;

/**
 * org_invitations. An invitation is open while it is neither accepted nor revoked (the partial
 * unique index allows one open invitation per address and org); it is usable while open and
 * unexpired. Times are the service's clock, never the database's, so tests can move them.
 */
/** Usable at `now`: neither accepted nor revoked, and not expired. */
const isOpen = (now: Date) => (eb: ExpressionBuilder<Database, 'org_invitations'>) =>
  eb.and([eb('accepted_at', 'is', null), eb('revoked_at', 'is', null), eb('expires_at', '>', now)]);

export function createInvitationStore(db: Db) {
  return {
    /** False when the address already has an open invitation to the org (the unique index decides). */
    async insert(invitation: NewInvitation, now: Date, tx: Executor): Promise<boolean> {
      const row = await tx
        .insertInto('org_invitations')
        .values({ ...invitation, sent_at: now, created_at: now })
        .onConflict((oc) =>
          oc.columns(['org_id', 'email_normalized']).where('accepted_at', 'is', null).where('revoked_at', 'is', null).doNothing(),
        )
        .returning('id')
        .executeTakeFirst();
      return !!row;
    },

    /** Closes the address's open invitations to the org that have expired (so a new one can be sent). */
    async closeExpired(orgId: string, emailNormalized: string, now: Date, tx: Executor) {
      await tx
        .updateTable('org_invitations')
        .set({ revoked_at: now })
        .where('org_id', '=', orgId)
        .where('email_normalized', '=', emailNormalized)
        .where('accepted_at', 'is', null)
        .where('revoked_at', 'is', null)
        .where('expires_at', '<=', now)
        .execute();
    },

    /** The open, unexpired invitation a link's token opens, if any (no lock: accepting claims it with one UPDATE). */
    findUsable(tokenHash: Buffer, now: Date, ex: Executor = db) {
      return ex.selectFrom('org_invitations').selectAll().where('token_hash', '=', tokenHash).where(isOpen(now)).executeTakeFirst();
    },

    /**
     * Spends an invitation: one conditional UPDATE, so of concurrent accepts exactly one gets the
     * row back (the others wait on the row, then find it accepted).
     */
    claim(tokenHash: Buffer, now: Date, tx: Executor) {
      return tx
        .updateTable('org_invitations')
        .set({ accepted_at: now })
        .where('token_hash', '=', tokenHash)
        .where(isOpen(now))
        .returningAll()
        .executeTakeFirst();
    },

    async setAcceptedBy(id: string, userId: string, tx: Executor) {
      await tx.updateTable('org_invitations').set({ accepted_by: userId }).where('id', '=', id).execute();
    },

    /** A new link for an open, unexpired invitation of the org (the old token stops working); undefined when there is none. */
    reissue(orgId: string, id: string, change: { token_hash: Buffer; expires_at: Date }, now: Date, tx: Executor) {
      return tx
        .updateTable('org_invitations')
        .set({ ...change, sent_at: now })
        .where('id', '=', id)
        .where('org_id', '=', orgId)
        .where(isOpen(now))
        .returningAll()
        .executeTakeFirst();
    },

    /** Revokes an open, unexpired invitation of the org; undefined when there is none. */
    revoke(orgId: string, id: string, now: Date, tx: Executor) {
      return tx
        .updateTable('org_invitations')
        .set({ revoked_at: now })
        .where('id', '=', id)
        .where('org_id', '=', orgId)
        .where(isOpen(now))
        .returningAll()
        .executeTakeFirst();
    },

    /** The org's open invitations and those closed (accepted, revoked, expired) since `since`, newest first. */
    list(orgId: string, since: Date, limit: number) {
      return db
        .selectFrom('org_invitations')
        .selectAll()
        .where('org_id', '=', orgId)
        .where((eb) =>
          eb.or([
            eb.and([eb('accepted_at', 'is', null), eb('revoked_at', 'is', null)]),
            eb(sql<Date>`coalesce(accepted_at, revoked_at, expires_at)`, '>', since),
          ]),
        )
        .orderBy('created_at', 'desc')
        .orderBy('id')
        .limit(limit)
        .execute();
    },
  };
}

export type InvitationStore = ReturnType<typeof createInvitationStore>;
