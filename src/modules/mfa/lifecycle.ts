import type { Clock } from '../../infra/clock.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { Logger } from '../../infra/logger.js';
import type { Mail, Mailer } from '../../infra/mailer.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import type { AccountService } from '../accounts/index.js';
import { authError } from '../../shared/common-errors.js';
import { describeFactor, mfaEmails } from './emails.js';
import type { BackupCodes } from './factors/backup-codes.js';
import type { FactorRow, MfaStore } from './store.js';
import { mfaError } from './errors.js';

export type EnableOptions = {
  /** Sign out every other session of the user (the "I think someone else is in" button). */
  revokeOtherSessions?: boolean;
  /**
   * The session doing it: kept when the others are signed out, and made fresh at aal 2 once the
   * factor is on (confirming it was a use of it, on top of the recent password the set-up needed).
   */
  sessionId?: string;
};

/** What confirming a factor proves, as RFC 8176 names it (a key that may sync is a software key). */
const amrOf = (factor: Pick<FactorRow, 'kind'> & { backed_up?: boolean | null }): string[] =>
  factor.kind === 'totp' ? ['otp'] : factor.kind === 'sms' ? ['sms'] : [factor.backed_up ? 'swk' : 'hwk'];

/**
 * What every factor does when it is turned on or off, so that no factor file repeats it: the
 * audit event, the email to the owner, backup codes with the first factor, revoking the other
 * sessions on request, and no orphaned backup codes after the last factor is gone.
 */
export function createFactorLifecycle(deps: {
  store: MfaStore;
  withTransaction: WithTransaction;
  backupCodes: BackupCodes;
  sessions: SessionService;
  /** The account row: locked first (the order deletion takes), and its mfa_enabled note. */
  accounts: Pick<AccountService, 'lockAccount' | 'setMfaEnabled'>;
  audit: AuditService;
  mailer: Mailer;
  logger: Logger;
  clock: Clock;
  userEmail: (userId: string) => Promise<string>;
  /** Whether an org of the user's (past its grace period) would be out of policy with only these factor kinds left. */
  factorRequired: (userId: string, remainingKinds: string[], tx: Tx) => Promise<boolean>;
}) {
  const { store, withTransaction, backupCodes, sessions, audit, clock } = deps;

  /** The account row first, as deletion takes it; a deleted account ends the request as its sessions ended. */
  async function lockAccount(userId: string, tx: Tx) {
    if (!(await deps.accounts.lockAccount(userId, tx))) throw authError('SESSION_REVOKED', 'The account no longer exists.');
  }
  const { accounts } = deps;

  function mailLater(userId: string, build: (to: string) => Mail) {
    void deps
      .userEmail(userId)
      .then((to) => deps.mailer.send(build(to)))
      .catch((err: unknown) => deps.logger.error({ err: err instanceof Error ? err.message : String(err) }, 'security notice not sent'));
  }

  return {
    /**
     * Confirms a pending factor. Returns the backup codes when this is the user's first factor
     * (shown once), otherwise null. The confirm, the codes and the audit event commit together.
     */
    async enable(
      userId: string,
      factor: Pick<FactorRow, 'id' | 'kind' | 'name'> & { backed_up?: boolean | null },
      options: EnableOptions,
      context: AuditContext,
      extra?: (tx: Tx) => Promise<void>,
    ): Promise<{ backupCodes: string[] | null }> {
      const result = await withTransaction(async (tx) => {
        // Without the lock, two factors confirmed at once would both count as the first (two sets
        // of codes), and a confirm racing the removal of the last other factor would lose its codes.
        await lockAccount(userId, tx);
        await store.lockFactors(userId, tx);
        if (!(await store.confirm(factor.id, clock.now(), tx)))
          throw mfaError('FACTOR_NOT_PENDING', 'That enrolment was already confirmed or has ended.');
        await accounts.setMfaEnabled(userId, true, tx);
        if (extra) await extra(tx);
        const first = (await store.listConfirmed(userId, tx)).length === 1;
        const codes = first ? await backupCodes.generate(userId, tx) : null;
        await audit.record(
          {
            action: 'mfa.factor_enabled',
            actorId: userId,
            targetType: 'mfa_factor',
            targetId: factor.id,
            data: { kind: factor.kind },
            context,
          },
          tx,
        );
        if (codes)
          await audit.record({ action: 'mfa.backup_codes_generated', actorId: userId, data: { count: codes.length }, context }, tx);
        if (options.revokeOtherSessions) {
          await sessions.revokeAll(userId, 'mfa_enabled', { tx, exceptSessionId: options.sessionId });
        }
        tx.afterCommit(async () => mailLater(userId, (to) => mfaEmails.factorEnabled(to, describeFactor(factor.kind, factor.name))));
        return { backupCodes: codes };
      });
      // Without this, the session that just turned a factor on would be an aal1 session of an
      // account with a factor: its next step-up (adding a second key, say) would ask for the factor
      // it has just proved.
      if (options.sessionId) await sessions.recordAuthentication(options.sessionId, userId, { aal: 2, amr: amrOf(factor) });
      return result;
    },

    /** Removes a confirmed factor; the backup codes go with the last one. */
    async remove(userId: string, factorId: string, context: AuditContext): Promise<FactorRow> {
      return withTransaction(async (tx) => {
        await lockAccount(userId, tx);
        await store.lockFactors(userId, tx);
        const removed = await store.remove(userId, factorId, tx);
        if (!removed) throw mfaError('FACTOR_NOT_FOUND', 'You have no factor with that id.');
        const left = await store.listConfirmed(userId, tx);
        // An org that requires a (kind of) factor keeps its members from removing their last one.
        if (removed.confirmed_at && (await deps.factorRequired(userId, [...new Set(left.map((f) => f.kind))], tx))) {
          throw mfaError(
            'LAST_FACTOR_REQUIRED',
            'An organization you belong to requires two-step authentication with this kind of factor: set up another allowed factor first.',
          );
        }
        if (left.length === 0) await store.deleteBackupCodes(userId, tx);
        await accounts.setMfaEnabled(userId, left.length > 0, tx);
        await audit.record(
          {
            action: 'mfa.factor_removed',
            actorId: userId,
            targetType: 'mfa_factor',
            targetId: factorId,
            data: { kind: removed.kind },
            context,
          },
          tx,
        );
        if (removed.confirmed_at) {
          tx.afterCommit(async () => mailLater(userId, (to) => mfaEmails.factorRemoved(to, describeFactor(removed.kind, removed.name))));
        }
        return removed;
      });
    },

    /** A new set of backup codes (step-up checked by the route); the old set is void. */
    async regenerateBackupCodes(userId: string, context: AuditContext): Promise<string[]> {
      return withTransaction(async (tx) => {
        await lockAccount(userId, tx);
        await store.lockFactors(userId, tx);
        if ((await store.listConfirmed(userId, tx)).length === 0) {
          throw mfaError('MFA_METHOD_UNAVAILABLE', 'Backup codes come with a second factor; turn one on first.');
        }
        const codes = await backupCodes.generate(userId, tx);
        await audit.record({ action: 'mfa.backup_codes_generated', actorId: userId, data: { count: codes.length }, context }, tx);
        tx.afterCommit(async () => mailLater(userId, (to) => mfaEmails.backupCodesRegenerated(to)));
        return codes;
      });
    },
  };
}

export type FactorLifecycle = ReturnType<typeof createFactorLifecycle>;
