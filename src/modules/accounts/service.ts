import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Logger } from '../../infra/logger.js';
import type { Mail, Mailer } from '../../infra/mailer.js';
import { randomToken, sha256 } from '../../infra/random.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { accountError } from './errors.js';
import type { PasswordHasher } from './password-hasher.js';
import { checkPassword } from './password-policy.js';
import type { AccountStore, EmailTokenPurpose, UserRow } from './store.js';
import { emails } from './emails.js';
import type { PasswordThrottle, ThrottleScope } from './password-throttle.js';

const VERIFY_TTL_MS = 24 * 3600 * 1000;
const RESET_TTL_MS = 30 * 60 * 1000;

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
  publicUrl: string;
  requireEmailVerification: boolean;
};

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
  const { store, hasher, mailer, audit, sessions, clock, logger, throttle, withTransaction } = deps;

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

  // Mail goes out after the response: an SMTP round trip would otherwise tell an observer
  // which addresses have accounts.
  const sendLater = (mail: Mail) => {
    mailer.send(mail).catch((err: Error) => logger.error({ err: err.message, subject: mail.subject }, 'email delivery failed'));
  };

  /**
   * Runs after the response, like mail: whether a link was issued must not show in the time the
   * answer takes (signup, resend and forgot would otherwise reveal which addresses exist).
   */
  const issueLinkLater = (user: UserRow, purpose: EmailTokenPurpose) => {
    issueLink(user, purpose).catch((err: Error) => logger.error({ err: err.message, purpose }, 'issuing an email link failed'));
  };

  async function issueLink(user: UserRow, purpose: EmailTokenPurpose) {
    const token = randomToken();
    const ttl = purpose === 'verify_email' ? VERIFY_TTL_MS : RESET_TTL_MS;
    await store.replaceEmailToken({
      token_hash: sha256(token),
      user_id: user.id,
      purpose,
      email: user.email,
      expires_at: new Date(clock.now().getTime() + ttl),
    });
    const link = `${deps.publicUrl}/${purpose === 'verify_email' ? 'verify-email' : 'reset-password'}?token=${token}`;
    sendLater(purpose === 'verify_email' ? emails.verify(user, link) : emails.reset(user, link));
  }

  return {
    /** The same answer whether or not the email is taken; the owner of a taken address is told. */
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
        sendLater(emails.alreadyRegistered(user, `${deps.publicUrl}/forgot-password`));
        return;
      }
      audit.recordDetached({ action: 'account.created', actorId: id, targetType: 'user', targetId: id, context });
      issueLinkLater(user, 'verify_email');
    },

    async verifyEmail(token: string, context: AuditContext) {
      const now = clock.now();
      const used = await store.consumeEmailToken(sha256(token), 'verify_email', now);
      if (!used) throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is invalid, expired or already used.');
      const user = await store.findById(used.user_id);
      // A link sent to an address the account no longer has proves nothing.
      if (!user || user.email !== used.email) throw accountError('INVALID_EMAIL_TOKEN', 'The verification link is no longer valid.');
      if (!user.email_verified_at) {
        // Whoever signed up with this address before its owner proved it may hold sessions
        // (when verification is not required for login): they end when the owner verifies.
        await withTransaction(async (tx) => {
          await store.update(user.id, { email_verified_at: now }, tx);
          await sessions.revokeAll(user.id, 'email_verified', { tx });
        });
      }
      audit.recordDetached({ action: 'account.email_verified', actorId: user.id, targetType: 'user', targetId: user.id, context });
    },

    async resendVerification(email: string) {
      const user = await store.findByEmail(email);
      if (user && !user.email_verified_at) issueLinkLater(user, 'verify_email');
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

    isVerified: (user: UserRow) => user.email_verified_at !== null,

    async getProfile(userId: string): Promise<UserRow> {
      const user = await store.findById(userId);
      if (!user) throw accountError('USER_NOT_FOUND', 'The account no longer exists.');
      return user;
    },

    /** For the sessions table, which shows whose sessions they are. */
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
        await store.update(userId, { password_hash: hash }, tx);
        await audit.record({ action: 'account.password_changed', actorId: userId, context }, tx);
        await sessions.revokeAll(userId, 'password_changed', { tx, exceptSessionId: sessionId });
        tx.afterCommit(() => sendLater(emails.passwordChanged(user)));
      });
    },

    /** Always quiet: the answer never says whether the address has an account. */
    async forgotPassword(email: string) {
      const user = await store.findByEmail(email);
      // Only a verified address may receive a reset link: an unverified one may not be the owner's.
      if (user?.email_verified_at) issueLinkLater(user, 'reset_password');
    },

    async resetPassword(token: string, password: string, context: AuditContext) {
      const now = clock.now();
      // Checked before the token is spent, so a rejected password does not burn the link.
      const preview = await store.peekEmailToken(sha256(token), 'reset_password', now);
      if (!preview) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is invalid, expired or already used.');
      checkPassword(password, preview.email);
      const hash = await hasher.hash(password);
      await withTransaction(async (tx) => {
        const used = await store.consumeEmailToken(sha256(token), 'reset_password', now, tx);
        if (!used) throw accountError('INVALID_EMAIL_TOKEN', 'The reset link is invalid, expired or already used.');
        await store.update(used.user_id, { password_hash: hash }, tx);
        await audit.record({ action: 'account.password_reset', actorId: used.user_id, context }, tx);
        await sessions.revokeAll(used.user_id, 'password_reset', { tx });
        // Whoever reset the password holds the mailbox: the guess counts, locks and known
        // devices of the old password end with it.
        tx.afterCommit(() => throttle.resetAccount(used.email));
      });
    },

    async deleteAccount(userId: string, password: string, context: AuditContext) {
      const user = await this.getProfile(userId);
      await confirmPassword(user, password, context, 'The password is not correct.');
      await withTransaction(async (tx) => {
        await sessions.revokeAll(userId, 'account_deleted', { tx });
        await audit.record({ action: 'account.deleted', actorId: userId, targetType: 'user', targetId: userId, context }, tx);
        // Sessions, refresh tokens and email links go with the row (on delete cascade).
        await store.delete(userId, tx);
      });
    },
  };
}

export type AccountService = ReturnType<typeof createAccountService>;
