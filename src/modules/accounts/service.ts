import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/logger.js';
import type { Mailer } from '../../infra/mailer.js';
import { sha256 } from '../../infra/random.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { accountError } from './errors.js';
import type { PasswordHasher } from './password-hasher.js';
import { checkPassword } from './password-policy.js';
import type { AccountStore, UserRow } from './store.js';
import type { MfaSummary } from './schemas.js';
import { emails } from './emails.js';
import type { MailCooldown } from './mail-cooldown.js';
import { createAccountMail, type AppLinks } from './account-mail.js';
import type { PasswordThrottle, ThrottleScope } from './password-throttle.js';

type Deps = {
  store: AccountStore;
  /** Counts password guesses: at login, and when a signed-in user re-enters the password. */
  throttle: PasswordThrottle;
  withTransaction: WithTransaction;
  hasher: PasswordHasher;
  mailer: Mailer;
  audit: AuditService;
  sessions: SessionService;
  clock: Clock;
  logger: Logger;
  /** Counts mail sent to an address because someone typed it. */
  cooldown: MailCooldown;
  links: AppLinks;
  requireEmailVerification: boolean;
  /** After a committed password change, reset or deletion (mfa ends the logins parked under the old password). */
  credentialChanged: (userId: string) => Promise<void>;
  beforeDeletion: BeforeDeletion;
  /** GET /v1/me's `mfa` section: the mfa module builds it (and depends on accounts), so it is asked at request time. */
  mfaSummary: MfaSummaryOf;
};

/** The profile's second-factor section, from the mfa module. */
export type MfaSummaryOf = (userId: string) => Promise<MfaSummary>;
const NO_FACTORS: MfaSummary = { enabled: false, methods: [], factors: [], backup_codes_remaining: 0 };

export type Profile = {
  id: string;
  email: string;
  email_verified: boolean;
  name: string;
  locale: string | null;
  created_at: string;
};

export const toProfile = (u: UserRow): Profile => ({
  id: u.id,
  email: u.email,
  email_verified: u.email_verified_at !== null,
  name: u.name,
  locale: u.locale,
  created_at: u.created_at.toISOString(),
});

/** Locks a guess set on the way in (the login flow audits them). */
export type LocksSet = Array<{ scope: ThrottleScope; seconds: number }>;

/** How a password login went, for the login flow to answer in its own terms. */
export type PasswordCheck =
  | { outcome: 'ok'; user: UserRow; deviceToken: string; locksSet: LocksSet }
  | { outcome: 'invalid'; reason: 'unknown_account' | 'wrong_password' | 'unverified'; userId: string | null; locksSet: LocksSet }
  | { outcome: 'throttled'; retryAfter: number };

export function createAccountService(deps: Deps) {
  const { store, hasher, mailer, audit, sessions, clock, logger, throttle, withTransaction, cooldown, links } = deps;

  /** A password typed again by a signed-in user, counted like a login attempt. */
  async function confirmPassword(user: UserRow, password: string, context: AuditContext, message: string) {
    const ip = context.ip ?? 'unknown';
    const admission = await throttle.admit(user.email, ip);
    if (!admission.allowed) {
      const wait = admission.retryAfter;
      throw accountError('PASSWORD_ATTEMPTS_THROTTLED', `Too many wrong passwords; try again in ${wait} seconds.`, { retry_after: wait });
    }
    if (!(await hasher.verify(user.password_hash, password))) throw accountError('INVALID_PASSWORD', message);
    await throttle.recordSuccess(admission.ticket);
  }

  const { sendLater, mailTypedAddressLater, issueLink, sendVerificationLater, forgotPasswordLink } = createAccountMail({
    store,
    mailer,
    logger,
    clock,
    cooldown,
    links,
  });

  return {
    /**
     * The same answer whether or not the email is taken. A verified address's owner is told
     * someone tried; an unverified account gets a fresh verification link, and its stored
     * password and name stay as they are: whoever follows the link sets the password then (see
     * verifyEmail), so signing up first with someone else's address wins nothing.
     */
    async signup(input: { email: string; password: string; name: string; locale?: string }, context: AuditContext) {
      checkPassword(input.password, input.email);
      const passwordHash = await hasher.hash(input.password);
      const id = randomUUID();
      const created = await store.insertUser({
        id,
        email: input.email,
        password_hash: passwordHash,
        name: input.name,
        locale: input.locale ?? null,
        verified: false,
      });
      const user = await store.findByEmail(input.email);
      if (!user) return;
      if (!created) {
        if (user.email_verified_at) {
          mailTypedAddressLater(user.email, 'already_registered', async () => emails.alreadyRegistered(user.email, forgotPasswordLink));
        } else sendVerificationLater(user);
        return;
      }
      audit.recordDetached({ action: 'account.created', actorId: id, targetType: 'user', targetId: id, context });
      sendVerificationLater(user);
    },

    /**
     * Following the link proves the mailbox, and the password typed with it becomes the
     * account's: whoever signed up with the address (its owner, or someone before them) and
     * whichever flow sent the link, the password in force afterwards is the one the mailbox
     * owner typed. Every session, every other outstanding link and every login throttle state
     * of the account end with it.
     */
    async verifyEmail(token: string, password: string, context: AuditContext) {
      const now = clock.now();
      // Checked before the token is spent, so a rejected password does not burn the link.
      const preview = await store.peekEmailToken(sha256(token), 'verify_email', now);
      if (!preview) throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is invalid, expired or already used.');
      checkPassword(password, preview.email);
      const hash = await hasher.hash(password);
      await withTransaction(async (tx) => {
        // The account row first, in the order deletion and password change take it.
        if (!(await store.lock(preview.user_id, tx)))
          throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is no longer valid.');
        const used = await store.consumeEmailToken(sha256(token), 'verify_email', now, tx);
        if (!used) throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is invalid, expired or already used.');
        const user = await store.findById(used.user_id, tx);
        // A link sent to an address the account no longer has proves nothing.
        if (!user || user.email !== used.email) throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is no longer valid.');
        await store.update(user.id, { password_hash: hash, email_verified_at: user.email_verified_at ?? now }, tx);
        await store.voidEmailTokens(user.id, ['verify_email', 'reset_password'], tx);
        await audit.record(
          {
            action: 'account.email_verified',
            actorId: user.id,
            targetType: 'user',
            targetId: user.id,
            data: { password_set: true },
            context,
          },
          tx,
        );
        // Whoever signed up with this address before its owner proved it may hold sessions
        // (when verification is not required for login): they end here.
        await sessions.revokeAll(user.id, 'email_verified', { tx });
        tx.afterCommit(() => throttle.resetAccount(used.email));
      });
    },

    async resendVerification(email: string) {
      const user = await store.findByEmail(email);
      if (user && !user.email_verified_at) sendVerificationLater(user);
    },

    /**
     * Password check for login, throttled before the password is looked at (see
     * password-throttle.ts; a known device token lets the owner through an account-wide lock).
     * Unknown emails verify a dummy hash so every path costs one argon2 verification. An
     * unverified address answers like a wrong password when verification is required: the
     * address is not proven to be the account holder's, and a distinct answer would tell
     * whoever just tried to sign up with it whether it already had an account.
     */
    async checkLoginPassword(email: string, password: string, ip: string, deviceTokens: readonly string[] = []): Promise<PasswordCheck> {
      const admission = await throttle.admit(email, ip, deviceTokens);
      if (!admission.allowed) return { outcome: 'throttled', retryAfter: admission.retryAfter };
      const { locksSet } = admission;
      const user = await store.findByEmail(email);
      if (!user) {
        await hasher.verifyDummy(password);
        return { outcome: 'invalid', reason: 'unknown_account', userId: null, locksSet };
      }
      if (!(await hasher.verify(user.password_hash, password)))
        return { outcome: 'invalid', reason: 'wrong_password', userId: user.id, locksSet };
      if (deps.requireEmailVerification && !user.email_verified_at)
        return { outcome: 'invalid', reason: 'unverified', userId: user.id, locksSet };
      await throttle.recordSuccess(admission.ticket);
      // The last login is the newest session's created_at: no write here on the hot path.
      if (hasher.needsRehash(user.password_hash)) await store.update(user.id, { password_hash: await hasher.hash(password) });
      return { outcome: 'ok', user, deviceToken: throttle.issueDeviceToken(admission.ticket), locksSet };
    },

    async getProfile(userId: string): Promise<UserRow> {
      const user = await store.findById(userId);
      if (!user) throw accountError('USER_NOT_FOUND', 'The account no longer exists.');
      return user;
    },

    /**
     * Locks the account row in the caller's transaction (false: the account is gone). Whoever
     * changes rows that belong to an account takes this first, as deletion does, so the two queue
     * instead of deadlocking.
     */
    async lockAccount(userId: string, tx: Tx) {
      return store.lock(userId, tx);
    },

    /**
     * An account created by accepting an organization invitation, inside the caller's transaction:
     * the invitation's link came through the mailbox, so the address is verified from the start.
     * The password policy applies as at signup. Null when the address already has an account.
     */
    async createInvitedAccount(input: { email: string; name: string; password: string }, tx: Tx, context: AuditContext = {}) {
      checkPassword(input.password, input.email);
      const passwordHash = await hasher.hash(input.password);
      const id = randomUUID();
      const created = await store.insertUser(
        { id, email: input.email, password_hash: passwordHash, name: input.name, locale: null, verified: true },
        tx,
      );
      if (!created) return null;
      await audit.record(
        { action: 'account.created', actorId: id, targetType: 'user', targetId: id, data: { via: 'invitation' }, context },
        tx,
      );
      return { id };
    },

    /** The account that has this address (compared normalized), if any: for invitations, which are by address. */
    async accountByEmail(email: string) {
      const user = await store.findByEmail(email);
      return user ? { id: user.id, email: user.email, verified: user.email_verified_at !== null } : null;
    },

    /** A link that came through the mailbox (an accepted invitation) proves the address, inside the caller's transaction. */
    async markEmailVerified(userId: string, tx: Tx, context: AuditContext = {}) {
      const user = await store.findById(userId, tx);
      if (!user || user.email_verified_at) return false;
      await store.update(userId, { email_verified_at: clock.now() }, tx);
      await audit.record(
        { action: 'account.email_verified', actorId: userId, targetType: 'user', targetId: userId, data: { via: 'invitation' }, context },
        tx,
      );
      return true;
    },

    /** The mfa module's note on the account row, inside its own transaction: whether a factor is on (GET /v1/me shows it). */
    async setMfaEnabled(userId: string, enabled: boolean, tx: Tx) {
      await store.setMfaEnabled(userId, enabled, tx);
    },

    /** Re-entry of the password for step-up (throttled like every password check). */
    async confirmPassword(userId: string, password: string, context: AuditContext) {
      const user = await this.getProfile(userId);
      await confirmPassword(user, password, context, 'The password is not correct.');
    },

    /** The profile as the API shows it. Most accounts have no factor: their row says so, and the factors are not read. */
    async view(user: UserRow) {
      return { ...toProfile(user), mfa: user.mfa_enabled ? await deps.mfaSummary(user.id) : NO_FACTORS };
    },

    /** For the sessions table, which shows whose sessions they are. */
    /** Name, email and MFA status of several accounts (the team list), by id; missing ids are gone accounts. */
    async peopleOf(userIds: readonly string[]) {
      const rows = await store.findByIds(userIds);
      return new Map(
        rows.map((u) => [u.id, { name: u.name, email: u.email, mfaEnabled: u.mfa_enabled, verified: u.email_verified_at !== null }]),
      );
    },

    async emailOf(userId: string): Promise<string> {
      return (await this.getProfile(userId)).email;
    },

    async updateProfile(userId: string, patch: { name?: string; locale?: string | null }, context: AuditContext) {
      const user = await store.update(userId, patch);
      if (!user) throw accountError('USER_NOT_FOUND', 'The account no longer exists.');
      audit.recordDetached({ action: 'account.profile_updated', actorId: userId, data: { fields: Object.keys(patch) }, context });
      return user;
    },

    async changePassword(userId: string, sessionId: string, current: string, next: string, context: AuditContext) {
      const user = await this.getProfile(userId);
      await confirmPassword(user, current, context, 'The current password is not correct.');
      checkPassword(next, user.email);
      const hash = await hasher.hash(next);
      await withTransaction(async (tx) => {
        // Gone when a deletion of the account committed first.
        const changed = await store.update(userId, { password_hash: hash }, tx);
        if (!changed) throw accountError('USER_NOT_FOUND', 'The account no longer exists.');
        await audit.record({ action: 'account.password_changed', actorId: userId, context }, tx);
        await sessions.revokeAll(userId, 'password_changed', { tx, exceptSessionId: sessionId });
        // A reset link asked for before the change must not undo it.
        await store.voidEmailTokens(userId, ['reset_password'], tx);
        tx.afterCommit(() => deps.credentialChanged(userId));
        tx.afterCommit(() => sendLater(emails.passwordChanged(user.email)));
      });
    },

    /**
     * Always quiet: the answer never says whether the address has an account. Unverified
     * accounts get a link too: it goes to the mailbox, so only its owner can use it, and the
     * reset proves the address (see resetPassword).
     */
    async forgotPassword(email: string) {
      const user = await store.findByEmail(email);
      if (user) mailTypedAddressLater(user.email, 'reset_password', () => issueLink(user, 'reset_password'));
    },

    async resetPassword(token: string, password: string, context: AuditContext) {
      const now = clock.now();
      // Checked before the token is spent, so a rejected password does not burn the link.
      const preview = await store.peekEmailToken(sha256(token), 'reset_password', now);
      if (!preview) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is invalid, expired or already used.');
      checkPassword(password, preview.email);
      const hash = await hasher.hash(password);
      await withTransaction(async (tx) => {
        // The account row first, in the order deletion and password change take it.
        if (!(await store.lock(preview.user_id, tx))) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is no longer valid.');
        const used = await store.consumeEmailToken(sha256(token), 'reset_password', now, tx);
        if (!used) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is invalid, expired or already used.');
        const user = await store.findById(used.user_id, tx);
        if (!user || user.email !== used.email) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is no longer valid.');
        // The link came through the mailbox: a completed reset proves the address too.
        await store.update(user.id, { password_hash: hash, email_verified_at: user.email_verified_at ?? now }, tx);
        // Links sent before (reset or verification) must not set another password after this one.
        await store.voidEmailTokens(user.id, ['verify_email', 'reset_password'], tx);
        await audit.record({ action: 'account.password_reset', actorId: used.user_id, context }, tx);
        if (!user.email_verified_at) {
          await audit.record({ action: 'account.email_verified', actorId: user.id, targetType: 'user', targetId: user.id, context }, tx);
        }
        await sessions.revokeAll(used.user_id, 'password_reset', { tx });
        tx.afterCommit(() => deps.credentialChanged(used.user_id));
        // Whoever reset the password holds the mailbox: the guess counts, locks and known
        // devices of the old password end with it.
        tx.afterCommit(() => throttle.resetAccount(used.email));
      });
    },

    async deleteAccount(userId: string, password: string, context: AuditContext) {
      const user = await this.getProfile(userId);
      await confirmPassword(user, password, context, 'The password is not correct.');
      await withTransaction(async (tx) => {
        await deps.beforeDeletion(userId, tx, context);
        // The account row first: a password change locks it first too, and a login's session
        // insert waits on it, so they queue behind the deletion (and find the account gone)
        // instead of deadlocking with it.
        if (!(await store.lock(userId, tx))) throw accountError('USER_NOT_FOUND', 'The account no longer exists.');
        await sessions.revokeAll(userId, 'account_deleted', { tx });
        await audit.record({ action: 'account.deleted', actorId: userId, targetType: 'user', targetId: userId, context }, tx);
        // Sessions, refresh tokens and email links go with the row (on delete cascade).
        await store.delete(userId, tx);
        tx.afterCommit(() => deps.credentialChanged(userId));
      });
    },
  };
}

/**
 * Runs first in the deletion's transaction, before the account row is locked (orgs lock their rows
 * before anything of the account's, everywhere); throws to refuse the deletion.
 */
export type BeforeDeletion = (userId: string, tx: Tx, context: AuditContext) => Promise<void>;

export type AccountService = ReturnType<typeof createAccountService>;
