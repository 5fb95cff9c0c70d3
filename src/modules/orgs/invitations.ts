import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { Logger } from '../../infra/logger.js';
import type { Mail, Mailer } from '../../infra/mailer.js';
import { randomToken, sha256 } from '../../infra/random.js';
import { requestError } from '../../shared/common-errors.js';
import type { AccountService } from '../accounts/index.js';
import { normalizeEmail } from '../accounts/normalize-email.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import { orgEmails } from './emails.js';
import { orgError } from './errors.js';
import type { LockActor } from './actor-lock.js';
import type { OrgAccessResolver } from './access.js';
import { assertMayHandle } from './grant-rules.js';
import type { InvitationRow, InvitationStore } from './invitations-store.js';
import type { Actor } from './members.js';
import type { People } from './people.js';
import { OWNER_ROLE } from './presets.js';
import type { OrgRow, OrgStore, RoleRow } from './store.js';

/** What invitations ask of accounts: lookup by address, the invited account's creation, the password re-entry, the row lock. */
export type InvitationAccounts = Pick<
  AccountService,
  'accountByEmail' | 'createInvitedAccount' | 'markEmailVerified' | 'confirmPassword' | 'lockAccount'
>;

/** Where the link in the invitation mail points: the frontend's page, which calls preview and accept with the token. */
export type InvitationLinks = { appUrl: string; invitationPath: string };

type Deps = {
  lockActor: LockActor;
  /** The inviter's access now (accept checks they can still grant what they offered). */
  access: OrgAccessResolver;
  store: OrgStore;
  invitations: InvitationStore;
  withTransaction: WithTransaction;
  audit: AuditService;
  clock: Clock;
  people: People;
  accounts: InvitationAccounts;
  mailer: Mailer;
  logger: Logger;
  links: InvitationLinks;
  ttlDays: number;
};

const DAY_MS = 86_400_000;
/** How far back the list shows closed invitations (accepted, revoked, expired). */
const RECENT_DAYS = 30;
const LIST_LIMIT = 200;

export type InvitationStatus = 'pending' | 'accepted' | 'revoked' | 'expired';

/**
 * An invitation's state. Expired ones are closed (revoked_at set) when the address is invited
 * again; a manual revocation happens before the expiry, so a close at or after it means "expired".
 */
export function statusOf(row: Pick<InvitationRow, 'accepted_at' | 'revoked_at' | 'expires_at'>, now: Date): InvitationStatus {
  if (row.accepted_at) return 'accepted';
  if (row.revoked_at) return row.revoked_at >= row.expires_at ? 'expired' : 'revoked';
  return row.expires_at > now ? 'pending' : 'expired';
}

/** The view of an invitation: never its token (the table holds only its hash anyway). */
export const invitationViewOf = (row: InvitationRow, now: Date) => ({
  id: row.id,
  email: row.email,
  name: row.name,
  roles: [...row.roles].sort(),
  invited_by: row.invited_by,
  expires_at: row.expires_at.toISOString(),
  created_at: row.created_at.toISOString(),
  status: statusOf(row, now),
});

const invalid = (detail = 'The invitation link is invalid, expired or already used.') => orgError('INVITATION_INVALID', detail);
const notFound = () => orgError('INVITATION_NOT_FOUND', 'This organization has no open invitation with that id.');

/**
 * Invitations into an org: sent by address with the roles the inviter may grant, accepted once
 * through the emailed link (by a new account, created verified, or by the account that has the
 * address), resent with a new link, revoked. The link's token is stored as its SHA-256 only and
 * written nowhere but the mail.
 */
export function createInvitationService(deps: Deps) {
  const { store, invitations, withTransaction, audit, clock, accounts, mailer, logger, links } = deps;
  const ttlMs = deps.ttlDays * DAY_MS;

  /**
   * The escalation rules for the roles of an invitation (see grant-rules.ts), with the hand-over:
   * in a client org that has no Owner yet, the agency that manages it may invite one.
   */
  async function assertMayInvite(actor: Actor, org: OrgRow, roles: RoleRow[], tx: Tx) {
    const handover =
      roles.some((r) => r.key === OWNER_ROLE) &&
      org.managed_by !== null &&
      actor.agencyId === org.managed_by &&
      (await store.ownerIds(org.id, tx)).length === 0;
    assertMayHandle(actor, handover ? roles.filter((r) => r.key !== OWNER_ROLE) : roles);
  }

  /** After the commit, without holding up the answer: a delivery failure is logged (never the link), not thrown. */
  function mailLater(compose: () => Promise<Mail>) {
    void compose()
      .then((mail) => mailer.send(mail))
      .catch((err: Error) => logger.error({ err: err.message, what: 'org_invitation' }, 'email delivery failed'));
  }

  function invitationMail(to: string, org: OrgRow, inviterId: string, token: string, expiresAt: Date) {
    return async () => {
      const inviter = (await deps.people.peopleOf([inviterId])).get(inviterId);
      const link = `${links.appUrl}${links.invitationPath}?token=${encodeURIComponent(token)}`;
      return orgEmails.invitation(to, { orgName: org.name, inviterName: inviter?.name ?? 'A member', link, expiresAt });
    };
  }

  return {
    /** Invites an address with roles of the org: 409 when it is a member already or has an open invitation (resend that one). */
    async invite(actor: Actor, input: { name: string; email: string; roles: readonly string[] }, context: AuditContext) {
      const keys = [...new Set(input.roles)].sort();
      const email = input.email.trim();
      const emailNormalized = normalizeEmail(email);
      const token = randomToken();
      const account = await accounts.accountByEmail(email);
      return withTransaction(async (tx) => {
        const now = clock.now();
        const locked = await deps.lockActor(actor, tx, ['members:invite']);
        actor = locked;
        const org = locked.org;
        const roles = await store.rolesByKeys(org.id, keys, tx);
        const unknown = keys.filter((k) => !roles.some((r) => r.key === k));
        if (unknown.length) throw orgError('ROLE_UNKNOWN', `This organization has no role ${unknown.join(', ')}.`, { roles: unknown });
        await assertMayInvite(actor, org, roles, tx);
        if (account && (await store.member(org.id, account.id, tx))) {
          throw orgError('ALREADY_MEMBER', 'This address belongs to a member of the organization already.');
        }
        // An expired invitation still holds the address's one open slot: it is closed first.
        await invitations.closeExpired(org.id, emailNormalized, now, tx);
        const row = {
          id: randomUUID(),
          org_id: org.id,
          email,
          email_normalized: emailNormalized,
          name: input.name,
          roles: keys,
          token_hash: sha256(token),
          invited_by: actor.userId,
          expires_at: new Date(now.getTime() + ttlMs),
        };
        if (!(await invitations.insert(row, now, tx))) {
          throw orgError('INVITATION_PENDING', 'This address already has an open invitation: resend it instead.');
        }
        await audit.record(
          {
            action: 'org.invitation_sent',
            orgId: org.id,
            actorId: actor.userId,
            targetType: 'invitation',
            targetId: row.id,
            data: { roles: keys },
            context,
          },
          tx,
        );
        tx.afterCommit(() => mailLater(invitationMail(email, org, actor.userId, token, row.expires_at)));
        return invitationViewOf({ ...row, sent_at: now, created_at: now, accepted_at: null, accepted_by: null, revoked_at: null }, now);
      });
    },

    /** The open invitations and the recently closed ones, newest first. */
    async list(orgId: string) {
      const now = clock.now();
      const rows = await invitations.list(orgId, new Date(now.getTime() - RECENT_DAYS * DAY_MS), LIST_LIMIT);
      return rows.map((r) => invitationViewOf(r, now));
    },

    /** A new link and a new lifetime for an open invitation: the old link stops working. */
    async resend(actor: Actor, id: string, context: AuditContext) {
      const token = randomToken();
      return withTransaction(async (tx) => {
        const now = clock.now();
        const locked = await deps.lockActor(actor, tx, ['members:invite']);
        actor = locked;
        const org = locked.org;
        const row = await invitations.reissue(
          org.id,
          id,
          { token_hash: sha256(token), expires_at: new Date(now.getTime() + ttlMs) },
          now,
          tx,
        );
        if (!row) throw notFound();
        // Sending it again is granting it again.
        await assertMayInvite(actor, org, await store.rolesByKeys(org.id, row.roles, tx), tx);
        await audit.record(
          { action: 'org.invitation_resent', orgId: org.id, actorId: actor.userId, targetType: 'invitation', targetId: id, context },
          tx,
        );
        tx.afterCommit(() => mailLater(invitationMail(row.email, org, actor.userId, token, row.expires_at)));
        return invitationViewOf(row, now);
      });
    },

    /** Revokes an open invitation: its link stops working. */
    async revoke(actor: Actor, id: string, context: AuditContext) {
      await withTransaction(async (tx) => {
        const now = clock.now();
        const locked = await deps.lockActor(actor, tx, ['members:invite']);
        actor = locked;
        const org = locked.org;
        const row = await invitations.revoke(org.id, id, now, tx);
        if (!row) throw notFound();
        // Taking back a grant follows the rules of making it (grant-rules.ts).
        await assertMayInvite(actor, org, await store.rolesByKeys(org.id, row.roles, tx), tx);
        await audit.record(
          { action: 'org.invitation_revoked', orgId: org.id, actorId: actor.userId, targetType: 'invitation', targetId: id, context },
          tx,
        );
      });
    },

    /** What the invitation page shows before accepting: whose org, which roles, and whether to log in or create an account. */
    async preview(token: string) {
      const row = await invitations.findUsable(sha256(token), clock.now());
      const org = row ? await store.findOrg(row.org_id) : undefined;
      if (!row || !org) throw invalid();
      const account = await accounts.accountByEmail(row.email);
      return {
        org: { id: org.id, name: org.name },
        email: row.email,
        name: row.name,
        roles: [...row.roles].sort(),
        expires_at: row.expires_at.toISOString(),
        account_exists: account !== null,
      };
    },

    /**
     * Accepts an invitation. The address with no account: a password (and a name, the
     * invitation's by default) creates one, verified. The address with an account: the caller is
     * logged in as it or gives its password (counted like any password re-entry); accepting proves
     * the address. The roles are the invitation's that the org still has. Single use: the org row
     * is locked, then the invitation claimed by one conditional UPDATE; a caller who lost the race
     * finds it used.
     */
    async accept(input: { token: string; name?: string; password?: string }, principal: { userId: string } | null, context: AuditContext) {
      const hash = sha256(input.token);
      const found = await invitations.findUsable(hash, clock.now());
      if (!found) throw invalid();
      const account = await accounts.accountByEmail(found.email);
      if (account) {
        // The password is checked before any lock: argon2 takes a while, and a wrong one changes nothing.
        if (principal?.userId === account.id) {
          // Logged in as the invited account.
        } else if (input.password !== undefined) {
          await accounts.confirmPassword(account.id, input.password, context);
        } else if (principal) {
          throw orgError(
            'INVITATION_EMAIL_MISMATCH',
            'The invitation is for another address: log in as that account (or give its password) to accept.',
          );
        } else {
          throw orgError('INVITATION_LOGIN_REQUIRED', 'The invited address has an account: log in as it, or give its password, to accept.');
        }
      } else if (input.password === undefined) {
        throw requestError('VALIDATION_FAILED', 'The invited address has no account yet: choose a password to create it.', {
          errors: [{ field: 'password', message: 'Required to create the account' }],
        });
      }

      return withTransaction(async (tx) => {
        const now = clock.now();
        // Lock order, as everywhere: the org row, then anything of the account.
        const org = await store.lockOrg(found.org_id, tx);
        if (!org) throw invalid();
        const claimed = await invitations.claim(hash, now, tx);
        if (!claimed) throw invalid();
        // An invitation carries its sender's authority only while they still have it: removed or
        // demoted since, or the org now has the Owner a hand-over was for, it is void.
        const offered = await store.rolesByKeys(claimed.org_id, claimed.roles, tx);
        const inviter = claimed.invited_by ? await deps.access.resolve(claimed.invited_by, claimed.org_id, tx) : null;
        if (!inviter) throw invalid('Whoever sent this invitation can no longer grant it: ask for a new one.');
        try {
          await assertMayInvite({ ...inviter, userId: claimed.invited_by! }, org, offered, tx);
        } catch {
          throw invalid('Whoever sent this invitation can no longer grant these roles: ask for a new one.');
        }
        // An agency hands a client over to the client's own people: none of its own becomes the client's Owner.
        const handover = inviter.agencyId !== null && offered.some((r) => r.key === OWNER_ROLE);
        if (handover && account && org.managed_by && (await store.member(org.managed_by, account.id, tx))) {
          throw invalid('An agency cannot make one of its own members the Owner of a client organization.');
        }
        let userId: string;
        if (account) {
          if (!(await accounts.lockAccount(account.id, tx))) throw invalid('The invited account no longer exists: open the link again.');
          await accounts.markEmailVerified(account.id, tx, context);
          userId = account.id;
        } else {
          const created = await accounts.createInvitedAccount(
            { email: claimed.email, name: input.name ?? claimed.name, password: input.password! },
            tx,
            context,
          );
          if (!created)
            throw orgError(
              'INVITATION_LOGIN_REQUIRED',
              'An account with this address exists now: log in as it, or give its password, to accept.',
            );
          userId = created.id;
        }
        // Roles deleted from the org since the invitation was sent are left out; none left, no invitation.
        const roles = await store.rolesByKeys(claimed.org_id, claimed.roles, tx);
        if (roles.length === 0)
          throw invalid('None of the invitation\u2019s roles exists in the organization any more: ask for a new invitation.');
        if (
          !(await store.insertMember(
            claimed.org_id,
            userId,
            roles.map((r) => r.id),
            now,
            tx,
          ))
        ) {
          throw orgError('ALREADY_MEMBER', 'You are a member of this organization already.');
        }
        await invitations.setAcceptedBy(claimed.id, userId, tx);
        const keys = roles.map((r) => r.key).sort();
        await audit.record(
          {
            action: 'org.invitation_accepted',
            orgId: claimed.org_id,
            actorId: userId,
            targetType: 'invitation',
            targetId: claimed.id,
            data: { roles: keys },
            context,
          },
          tx,
        );
        await audit.record(
          {
            action: 'org.member_added',
            orgId: claimed.org_id,
            actorId: userId,
            targetType: 'user',
            targetId: userId,
            data: { roles: keys, via: 'invitation', invitation_id: claimed.id, invited_by: claimed.invited_by },
            context,
          },
          tx,
        );
        return { org_id: claimed.org_id, user_id: userId, roles: keys, account_created: !account };
      });
    },
  };
}

export type InvitationService = ReturnType<typeof createInvitationService>;
