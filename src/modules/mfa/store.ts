import { sql, type Insertable, type Selectable } from 'kysely';
import type { Db } from '../../infra/db/connect.js';
import type { FactorKind, MfaFactorsTable } from '../../infra/db/schema.js';
import type { Executor } from '../../infra/db/unit-of-work.js';

export type FactorRow = Selectable<MfaFactorsTable>;
export type NewFactor = Insertable<MfaFactorsTable>;

/** The MFA tables: factors (TOTP, SMS, WebAuthn credentials) and backup codes. Kysely only. */
export function createMfaStore(db: Db) {
  return {
    async insert(factor: NewFactor, ex: Executor = db): Promise<FactorRow> {
      return ex.insertInto('mfa_factors').values(factor).returningAll().executeTakeFirstOrThrow();
    },

    /** Confirmed factors of a user, oldest first. */
    listConfirmed(userId: string, ex: Executor = db): Promise<FactorRow[]> {
      return ex
        .selectFrom('mfa_factors')
        .selectAll()
        .where('user_id', '=', userId)
        .where('confirmed_at', 'is not', null)
        .orderBy('created_at')
        .execute();
    },

    /**
     * Locks the user's factor rows (in id order) until the transaction ends: turning factors on
     * and off, and the backup codes that come with the first and go with the last, then happen
     * one at a time per user.
     */
    /** The kinds of confirmed factors of several accounts (the team list's policy column). */
    async confirmedKinds(userIds: readonly string[]): Promise<Map<string, string[]>> {
      const out = new Map<string, string[]>();
      if (userIds.length === 0) return out;
      const rows = await db
        .selectFrom('mfa_factors')
        .select(['user_id', 'kind'])
        .distinct()
        .where('user_id', 'in', userIds)
        .where('confirmed_at', 'is not', null)
        .execute();
      for (const r of rows) out.set(r.user_id, [...(out.get(r.user_id) ?? []), r.kind]);
      return out;
    },

    async lockFactors(userId: string, tx: Executor): Promise<void> {
      await tx.selectFrom('mfa_factors').select('id').where('user_id', '=', userId).orderBy('id').forUpdate().execute();
    },

    async findByKind(userId: string, kind: FactorKind, ex: Executor = db): Promise<FactorRow | undefined> {
      return ex.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).where('kind', '=', kind).executeTakeFirst();
    },

    async findById(userId: string, id: string, ex: Executor = db): Promise<FactorRow | undefined> {
      return ex.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).where('id', '=', id).executeTakeFirst();
    },

    async findByCredentialId(credentialId: Buffer, ex: Executor = db): Promise<FactorRow | undefined> {
      return ex.selectFrom('mfa_factors').selectAll().where('credential_id', '=', credentialId).executeTakeFirst();
    },

    /** Deletes a pending (unconfirmed) factor of this kind, so an enrolment can start over. */
    async deletePending(userId: string, kind: FactorKind, ex: Executor = db): Promise<void> {
      await ex.deleteFrom('mfa_factors').where('user_id', '=', userId).where('kind', '=', kind).where('confirmed_at', 'is', null).execute();
    },

    /**
     * Deletes this pending set-up only (not a newer one started since, nor the factor once a
     * concurrent confirm turned it on); false when it was no longer pending.
     */
    async deletePendingById(id: string, ex: Executor = db): Promise<boolean> {
      const r = await ex.deleteFrom('mfa_factors').where('id', '=', id).where('confirmed_at', 'is', null).executeTakeFirst();
      return Number(r.numDeletedRows) > 0;
    },

    /**
     * Takes one of a pending set-up's `max` confirm tries for the session that started it, before
     * the code is compared: one UPDATE (row lock + check), so parallel guesses share the `max`.
     * Returns how many tries are taken with this one, or null when there is nothing to try (no such
     * pending row, another session's, or its tries are all taken).
     */
    async takeEnrolTry(id: string, sessionId: string, max: number, ex: Executor = db): Promise<number | null> {
      const row = await ex
        .updateTable('mfa_factors')
        .set((eb) => ({ enrol_failures: eb('enrol_failures', '+', 1) }))
        .where('id', '=', id)
        .where('confirmed_at', 'is', null)
        .where('enrol_session_id', '=', sessionId)
        .where('enrol_failures', '<', max)
        .returning('enrol_failures')
        .executeTakeFirst();
      return row ? row.enrol_failures : null;
    },

    /** Confirms a pending factor; false when it was not pending (a concurrent confirm won). */
    async confirm(id: string, now: Date, ex: Executor = db): Promise<boolean> {
      const r = await ex
        .updateTable('mfa_factors')
        .set({ confirmed_at: now, last_used_at: now })
        .where('id', '=', id)
        .where('confirmed_at', 'is', null)
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    async update(userId: string, id: string, patch: Partial<Pick<NewFactor, 'name' | 'secret_enc'>>, ex: Executor = db) {
      return ex.updateTable('mfa_factors').set(patch).where('user_id', '=', userId).where('id', '=', id).returningAll().executeTakeFirst();
    },

    async remove(userId: string, id: string, ex: Executor = db): Promise<FactorRow | undefined> {
      return ex.deleteFrom('mfa_factors').where('user_id', '=', userId).where('id', '=', id).returningAll().executeTakeFirst();
    },

    async touch(id: string, now: Date, ex: Executor = db): Promise<void> {
      await ex.updateTable('mfa_factors').set({ last_used_at: now }).where('id', '=', id).execute();
    },

    /**
     * The TOTP replay guard: accepts `step` only if it is later than the last accepted one, in one
     * UPDATE (row lock + check), so concurrent requests on any number of instances cannot both
     * win. Also stamps last use.
     */
    async advanceTotpStep(id: string, step: number, now: Date, ex: Executor = db): Promise<boolean> {
      const r = await ex
        .updateTable('mfa_factors')
        .set({ last_used_step: step, last_used_at: now })
        .where('id', '=', id)
        .where('confirmed_at', 'is not', null)
        .where((eb) => eb.or([eb('last_used_step', 'is', null), eb('last_used_step', '<', String(step))]))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    /**
     * The WebAuthn signature counter: moves only forward (or stays 0 for authenticators that
     * keep none). False when another use already moved it past `count`.
     */
    async advanceSignCount(id: string, count: number, now: Date, ex: Executor = db): Promise<boolean> {
      const r = await ex
        .updateTable('mfa_factors')
        .set({ sign_count: count, last_used_at: now })
        .where('id', '=', id)
        // An authenticator without a counter reports 0 every time; one with a counter must go up.
        .where('sign_count', count === 0 ? '=' : '<', String(count))
        .executeTakeFirst();
      return Number(r.numUpdatedRows) > 0;
    },

    // Backup codes.

    async replaceBackupCodes(userId: string, hashes: Buffer[], ex: Executor = db): Promise<void> {
      await ex.deleteFrom('mfa_backup_codes').where('user_id', '=', userId).execute();
      if (hashes.length)
        await ex
          .insertInto('mfa_backup_codes')
          .values(hashes.map((code_hash) => ({ user_id: userId, code_hash })))
          .execute();
    },

    async deleteBackupCodes(userId: string, ex: Executor = db): Promise<void> {
      await ex.deleteFrom('mfa_backup_codes').where('user_id', '=', userId).execute();
    },

    /**
     * Spends a code by its hash (an index lookup on the keyed hash: nothing about the code is
     * compared byte by byte in JavaScript). Returns how many remain, or null when the code is
     * unknown or already used. One statement: two requests with the same code cannot both spend it.
     */
    async spendBackupCode(userId: string, hash: Buffer, now: Date, ex: Executor = db): Promise<number | null> {
      const result = await sql<{ remaining: string }>`
        with spent as (
          update mfa_backup_codes set used_at = ${now}
           where user_id = ${userId} and code_hash = ${hash} and used_at is null
          returning 1
        )
        select (select count(*) from mfa_backup_codes where user_id = ${userId} and used_at is null) - 1 as remaining
          from spent`.execute(ex);
      const row = result.rows[0];
      return row ? Number(row.remaining) : null;
    },

    async backupCodesRemaining(userId: string, ex: Executor = db): Promise<number> {
      const row = await ex
        .selectFrom('mfa_backup_codes')
        .select((eb) => eb.fn.countAll<string>().as('n'))
        .where('user_id', '=', userId)
        .where('used_at', 'is', null)
        .executeTakeFirstOrThrow();
      return Number(row.n);
    },
  };
}

export type MfaStore = ReturnType<typeof createMfaStore>;
