import type { Clock } from '../../infra/clock.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import { authError } from '../../shared/common-errors.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import { nextNotBefore, type SessionService } from '../sessions/index.js';
import type { Actor, OrgAccess } from './access.js';
import { orgError } from './errors.js';
import { assertHolds, assertMayHandle } from './grant-rules.js';
import type { People } from './people.js';
import { meetsPolicy } from './policy.js';
import { OWNER_ROLE } from './presets.js';
import type { OrgStore } from './store.js';
import type { LockActor } from './actor-lock.js';

/**
 * A member's credentials for these orgs must die (their personal access tokens): they are leaving
 * the org (removed, or by their own choice; with it go the agency's clients they acted in), or an
 * admin is ending their sessions in it. Inside the caller's transaction with the org row locked;
 * the number revoked. Handed in by the composition root: orgs imports no module above it.
 */
export type RevokeMemberTokens = (
  input: { orgIds: readonly string[]; userId: string; actorId: string; reason: string },
  tx: Tx,
) => Promise<number>;

type Deps = {
  store: OrgStore;
  lockActor: LockActor;
  withTransaction: WithTransaction;
  sessions: SessionService;
  audit: AuditService;
  people: People;
  clock: Clock;
  revokeMemberTokens?: RevokeMemberTokens;
};

export type { Actor } from './access.js';

const notFound = () => orgError('MEMBER_NOT_FOUND', 'No member of this organization has that id.');

/**
 * The team: the member list, role changes and removal, and an admin's view of a member's sessions.
 * Every change locks the org row first, so owner counts and role checks see a settled org (two
 * Owners demoting each other at once: the second finds one Owner left and is refused).
 */
export function createMemberService(deps: Deps) {
  const { store, withTransaction, sessions, audit, clock } = deps;

  /** A member the actor may act on: an Owner only by an Owner (their own self excepted). */
  async function target(actor: Actor, userId: string) {
    const member = await store.member(actor.orgId, userId);
    if (!member) throw notFound();
    if (member.roles.includes(OWNER_ROLE) && !actor.isOwner && userId !== actor.userId) {
      throw orgError('OWNER_REQUIRED', 'Only an Owner can act on an Owner.');
    }
    return member;
  }

  return {
    async list(orgId: string, policy: OrgAccess['policy']) {
      const members = await store.listMembers(orgId);
      const ids = members.map((m) => m.user_id);
      const [people, logins, kinds] = await Promise.all([
        deps.people.peopleOf(ids),
        sessions.lastLogins(ids),
        deps.people.factorKindsOf(ids),
      ]);
      return members.flatMap((m) => {
        const person = people.get(m.user_id);
        if (!person) return [];
        return [
          {
            user_id: m.user_id,
            name: person.name,
            email: person.email,
            roles: m.roles,
            joined_at: m.joined_at.toISOString(),
            last_login_at: logins.get(m.user_id)?.toISOString() ?? null,
            mfa_enabled: person.mfaEnabled,
            // Out of policy: no allowed factor where the org requires one (or only disallowed ones).
            meets_policy: meetsPolicy(policy, kinds.get(m.user_id) ?? []),
          },
        ];
      });
    },

    /** Replaces a member's roles. Their tokens with the old roles are refused from the commit on. */
    async setRoles(actor: Actor, userId: string, roleKeys: readonly string[], context: AuditContext) {
      const keys = [...new Set(roleKeys)];
      return withTransaction(async (tx) => {
        actor = await deps.lockActor(actor, tx, ['members:manage']);
        const member = await store.member(actor.orgId, userId, tx);
        if (!member) throw notFound();
        if (member.roles.includes(OWNER_ROLE) && !actor.isOwner)
          throw orgError('OWNER_REQUIRED', 'Only an Owner can change an Owner\u2019s roles.');
        const wanted = await store.rolesByKeys(actor.orgId, keys, tx);
        const unknown = keys.filter((k) => !wanted.some((r) => r.key === k));
        if (unknown.length) throw orgError('ROLE_UNKNOWN', `This organization has no role ${unknown.join(', ')}.`, { roles: unknown });
        const held = await store.rolesByKeys(actor.orgId, member.roles, tx);
        const added = wanted.filter((r) => !member.roles.includes(r.key));
        const removed = held.filter((r) => !keys.includes(r.key));
        assertMayHandle(actor, [...added, ...removed]);
        if (removed.some((r) => r.key === OWNER_ROLE)) {
          const owners = await store.ownerIds(actor.orgId, tx);
          if (owners.length <= 1)
            throw orgError('LAST_OWNER', 'This is the organization\u2019s last Owner: make someone else an Owner first.');
        }
        if (added.length === 0 && removed.length === 0) return { user_id: userId, roles: member.roles.slice().sort() };
        const notBefore = nextNotBefore(clock.now(), member.roles_changed_at);
        await store.setMemberRoles(
          actor.orgId,
          userId,
          wanted.map((r) => r.id),
          notBefore,
          tx,
        );
        await sessions.rolesChanged(actor.orgId, [{ userId, notBefore }], 'roles_changed', tx);
        const roles = keys.slice().sort();
        await audit.record(
          {
            action: 'org.member_roles_changed',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'user',
            targetId: userId,
            data: { from: member.roles, to: roles },
            context,
          },
          tx,
        );
        return { user_id: userId, roles };
      });
    },

    /**
     * Removes a member (or the actor leaves). Their sessions in the org end and their tokens for
     * it are refused; the last Owner cannot leave or be removed.
     */
    async remove(actor: Actor, userId: string, context: AuditContext) {
      const leaving = userId === actor.userId;
      // The route lets any member through (to leave); removing someone else needs members:manage.
      if (!leaving) {
        const { allowed, missing } = hasPermissions(actor.permissions, ['members:manage']);
        if (!allowed) throw authError('PERMISSION_DENIED', 'Removing a member needs the permission members:manage.', { missing });
      }
      await withTransaction(async (tx) => {
        actor = await deps.lockActor(actor, tx, leaving ? [] : ['members:manage']);
        const member = await store.member(actor.orgId, userId, tx);
        if (!member) throw notFound();
        if (!leaving) {
          if (member.roles.includes(OWNER_ROLE) && !actor.isOwner) throw orgError('OWNER_REQUIRED', 'Only an Owner can remove an Owner.');
          // Nobody removes someone who holds more than they do.
          assertHolds(actor, member.permissions as Permission[]);
        }
        if (member.roles.includes(OWNER_ROLE)) {
          const owners = await store.ownerIds(actor.orgId, tx);
          if (owners.length <= 1) {
            throw orgError(
              'LAST_OWNER',
              'This is the organization\u2019s last Owner: make someone else an Owner (or delete the organization) first.',
            );
          }
        }
        await store.removeMember(actor.orgId, userId, tx);
        // Before their sessions: it locks the account row, which comes before the account's sessions (as a password change takes them).
        // Their tokens of the org, and of the clients they could only act in through it (an agency's).
        const clients = await store.clientsActedInBy(actor.orgId, userId, tx);
        await deps.revokeMemberTokens?.(
          { orgIds: [actor.orgId, ...clients], userId, actorId: actor.userId, reason: leaving ? 'left_org' : 'removed_from_org' },
          tx,
        );
        await sessions.revokeAll(userId, leaving ? 'left_org' : 'removed_from_org', { tx, orgId: actor.orgId });
        await sessions.rolesChanged(
          actor.orgId,
          [{ userId, notBefore: nextNotBefore(clock.now(), member.roles_changed_at) }],
          leaving ? 'left_org' : 'removed_from_org',
          tx,
        );
        await audit.record(
          {
            action: leaving ? 'org.member_left' : 'org.member_removed',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'user',
            targetId: userId,
            data: { roles: member.roles },
            context,
          },
          tx,
        );
      });
    },

    /** A member's live sessions in this org, and in none (sessions:manage; an Owner's only for an Owner). */
    async sessions(actor: Actor, userId: string) {
      await target(actor, userId);
      const person = (await deps.people.peopleOf([userId])).get(userId);
      if (!person) throw notFound();
      return sessions.listInOrg(userId, actor.orgId, person.email);
    },

    /** Ends a member's sessions in this org and their access tokens of it; audited in the org's trail. */
    async revokeSessions(actor: Actor, userId: string, context: AuditContext) {
      await target(actor, userId);
      const reason = 'revoked_by_org_admin';
      const { revoked, tokens } = await withTransaction(async (tx) => {
        // The account row first (the tokens' step takes it), then its sessions, as removal does.
        const tokens = (await deps.revokeMemberTokens?.({ orgIds: [actor.orgId], userId, actorId: actor.userId, reason }, tx)) ?? 0;
        // Their sessions in the org, and those in none, which could switch into it.
        const revoked = await sessions.revokeAll(userId, reason, { tx, orgOrNone: actor.orgId });
        return { revoked, tokens };
      });
      audit.recordDetached({
        action: 'org.member_sessions_revoked',
        orgId: actor.orgId,
        actorId: actor.userId,
        targetType: 'user',
        targetId: userId,
        data: { count: revoked, tokens },
        context,
      });
      return { revoked, tokens_revoked: tokens };
    },
  };
}

export type MemberService = ReturnType<typeof createMemberService>;
