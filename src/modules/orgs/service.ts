import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { RolePreset } from '../../infra/db/schema.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { Permission } from '../../shared/permissions.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import { nextNotBefore, type OrgGrant, type SessionService } from '../sessions/index.js';
import { grantOf, type OrgAccess, type OrgAccessResolver } from './access.js';
import { orgError } from './errors.js';
import type { People } from './people.js';
import { factorRule, meetsPolicy, policyOf, type FactorRule, type SecurityPolicy } from './policy.js';
import { OWNER_ROLE, presetRoles } from './presets.js';
import { slugify, withTail } from './slug.js';
import type { OrgRow, OrgStore } from './store.js';
import type { LockActor } from './actor-lock.js';

type Deps = {
  store: OrgStore;
  access: OrgAccessResolver;
  withTransaction: WithTransaction;
  sessions: SessionService;
  audit: AuditService;
  people: People;
  clock: Clock;
  lockActor: LockActor;
  /** After a commit that changed an org's settings: every instance forgets what it remembers of its members' access. */
  orgChanged: (orgId: string) => Promise<void>;
};

export function viewOf(org: OrgRow, access?: Pick<OrgAccess, 'roles' | 'permissions' | 'agencyId'>) {
  return {
    id: org.id,
    name: org.name,
    slug: org.slug,
    plan: org.plan,
    role_preset: org.role_preset,
    security_policy: policyOf(org.security_policy),
    managed_by: org.managed_by,
    created_at: org.created_at.toISOString(),
    ...(access ? { your_roles: access.roles, your_permissions: access.permissions, acting_for: access.agencyId } : {}),
  };
}

export type OrgView = ReturnType<typeof viewOf>;

export type NewOrgInput = { name: string; preset: RolePreset; createdBy: string; managedBy?: string; agencyPermissions?: Permission[] };

/** The org side of a login for an org: the member's access and what the policy asks of their second factor. */
export type LoginAccess = { access: OrgAccess; rule: FactorRule };

/** Organizations themselves: creation, the view, the policy, deletion, and the org side of login and of account deletion. */
export function createOrgService(deps: Deps) {
  const { store, withTransaction, sessions, audit, clock } = deps;

  /**
   * Inserts an org under a free slug (a taken one gets a short random tail), with its preset's
   * roles; returns the org and its roles by key. The creator's membership is the caller's.
   */
  async function insertOrg(tx: Tx, input: NewOrgInput) {
    const id = randomUUID();
    const base = slugify(input.name);
    let inserted = false;
    for (let i = 0; i < 5 && !inserted; i++) {
      inserted = await store.insertOrg(
        {
          id,
          name: input.name,
          slug: i === 0 ? base : withTail(base),
          role_preset: input.preset,
          managed_by: input.managedBy ?? null,
          agency_permissions: input.agencyPermissions ?? [],
          created_by: input.createdBy,
        },
        tx,
      );
    }
    if (!inserted) throw new Error('no free slug after five tries');
    const roles = presetRoles(id, input.preset);
    await store.insertRoles(roles, tx);
    return { id, roles: new Map(roles.map((r) => [r.key, r.id])) };
  }

  async function requireVerified(userId: string) {
    const person = (await deps.people.peopleOf([userId])).get(userId);
    if (!person?.verified) throw orgError('EMAIL_NOT_VERIFIED', 'Confirm your email address before creating an organization.');
  }

  return {
    insertOrg,
    requireVerified,

    /** Any verified user creates an org and becomes its Owner. */
    async create(userId: string, input: { name: string; preset: RolePreset }, context: AuditContext) {
      await requireVerified(userId);
      const orgId = await withTransaction(async (tx) => {
        const org = await insertOrg(tx, { ...input, createdBy: userId });
        await store.insertMember(org.id, userId, [org.roles.get(OWNER_ROLE)!], clock.now(), tx);
        await audit.record(
          {
            action: 'org.created',
            orgId: org.id,
            actorId: userId,
            targetType: 'org',
            targetId: org.id,
            data: { name: input.name, role_preset: input.preset },
            context,
          },
          tx,
        );
        return org.id;
      });
      return this.view(userId, orgId);
    },

    async view(userId: string, orgId: string) {
      const [org, access] = await Promise.all([store.findOrg(orgId), deps.access.resolve(userId, orgId)]);
      if (!org || !access) throw orgError('ORG_NOT_FOUND', 'No organization of yours has that id.');
      return viewOf(org, access);
    },

    /** The orgs the user belongs to. */
    async listMine(userId: string) {
      const rows = await store.listOrgsOf(userId);
      return rows.map((r) => ({
        id: r.id,
        name: r.name,
        slug: r.slug,
        plan: r.plan,
        role_preset: r.role_preset,
        managed_by: r.managed_by,
        roles: r.roles,
        joined_at: r.joined_at.toISOString(),
      }));
    },

    /**
     * Renames the org and changes its security policy. Tightening the second-factor rules starts
     * everyone's grace period anew; a policy the actor's own account does not meet is refused
     * (it would lock them out at once, or when the grace period ends); shorter session lifetimes
     * apply to the org's live sessions at once.
     */
    async update(
      actor: OrgAccess & { userId: string },
      patch: { name?: string; security_policy?: Partial<SecurityPolicy> },
      context: AuditContext,
    ) {
      // Read before the transaction: a transaction never waits on a second connection of the pool.
      const actorKinds = patch.security_policy ? ((await deps.people.factorKindsOf([actor.userId])).get(actor.userId) ?? []) : [];
      return withTransaction(async (tx) => {
        const locked = await deps.lockActor(actor, tx, ['org:manage']);
        actor = locked;
        const org = locked.org;
        const before = policyOf(org.security_policy);
        const policy = patch.security_policy ? { ...before, ...patch.security_policy } : before;
        // Requiring a factor, or allowing fewer, starts everyone's grace period anew.
        const tightened =
          (policy.require_mfa && !before.require_mfa) || before.allowed_factors.some((f) => !policy.allowed_factors.includes(f));
        if (patch.security_policy) {
          if (!meetsPolicy(policy, actorKinds)) {
            throw orgError(
              'POLICY_LOCKOUT',
              'Your own account does not meet this policy: set up an allowed second factor first, then require it.',
              { methods: policy.allowed_factors },
            );
          }
        }
        const updated = await store.updateOrg(
          actor.orgId,
          {
            ...(patch.name !== undefined ? { name: patch.name } : {}),
            ...(patch.security_policy ? { security_policy: JSON.stringify(policy) } : {}),
            ...(tightened ? { mfa_required_since: clock.now() } : {}),
          },
          clock.now(),
          tx,
        );
        tx.afterCommit(() => deps.orgChanged(actor.orgId));
        if (patch.security_policy && (policy.session_absolute_ttl || policy.session_idle_ttl)) {
          await sessions.applyOrgLimits(actor.orgId, { absoluteTtl: policy.session_absolute_ttl, idleTtl: policy.session_idle_ttl }, tx);
        }
        await audit.record(
          {
            action: 'org.updated',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'org',
            targetId: actor.orgId,
            data: {
              ...(patch.name !== undefined ? { name: patch.name } : {}),
              ...(patch.security_policy ? { security_policy: policy } : {}),
            },
            context,
          },
          tx,
        );
        return viewOf(updated, actor);
      });
    },

    /** Deletes the org: its members' sessions in it end, and their tokens for it are refused at once. */
    async remove(actor: OrgAccess & { userId: string }, context: AuditContext) {
      await withTransaction(async (tx) => {
        const { org } = await deps.lockActor(actor, tx, ['org:delete']);
        // An agency whose clients have no Owner yet would leave them with nobody able to grant one.
        const orphans = [];
        for (const client of await store.listClients(actor.orgId, tx)) {
          if ((await store.ownerIds(client.id, tx)).length === 0) orphans.push({ id: client.id, name: client.name });
        }
        if (orphans.length) {
          throw orgError(
            'LAST_OWNER',
            `Client organizations without an Owner of their own would be left with none: ${orphans.map((o) => o.name).join(', ')}. Invite their Owners (or delete them) first.`,
            { orgs: orphans },
          );
        }
        const members = await store.listMembers(actor.orgId, tx);
        // Every session in the org, members' and agency actors' alike.
        await sessions.revokeOrg(actor.orgId, 'org_deleted', tx);
        const actors = org.managed_by ? await store.agencyActors(org.managed_by, tx) : [];
        const now = clock.now();
        await sessions.rolesChanged(
          actor.orgId,
          [
            ...members.map((m) => ({ userId: m.user_id, notBefore: nextNotBefore(now, m.roles_changed_at) })),
            ...actors.filter((id) => !members.some((m) => m.user_id === id)).map((userId) => ({ userId, notBefore: nextNotBefore(now) })),
          ],
          'org_deleted',
          tx,
        );
        await audit.record(
          {
            action: 'org.deleted',
            orgId: actor.orgId,
            actorId: actor.userId,
            targetType: 'org',
            targetId: actor.orgId,
            data: { name: org.name },
            context,
          },
          tx,
        );
        await store.deleteOrg(actor.orgId, tx);
      });
    },

    /**
     * Login for an org: the member's access (403 for anyone else) and what the org's policy asks
     * of their second factor, given the account's methods (null: no factor).
     */
    async loginAccess(userId: string, orgId: string, methods: readonly string[] | null): Promise<LoginAccess> {
      const access = await deps.access.resolve(userId, orgId);
      if (!access) throw orgError('ORG_ACCESS_DENIED', 'You are not a member of that organization.');
      return { access, rule: factorRule(access.policy, methods, access.graceOver) };
    },

    /** The token claims for a session that has just proved itself at `aal` (throws when the policy wants more). */
    grantFor: (access: OrgAccess, aal: number, method: string | null): OrgGrant => grantOf(access, aal, method),

    /**
     * Before an account is deleted (inside its transaction, before the account row is locked:
     * orgs are locked first everywhere): refused while it is some org's last Owner; otherwise
     * its memberships go with it, each recorded in its org's trail.
     */
    async beforeAccountDeletion(userId: string, tx: Tx, context: AuditContext) {
      // Every org of the account, locked in id order (as member changes lock them: the org first).
      const orgs = await store.lockOrgsOf(userId, tx);
      const orphaned = [];
      for (const org of orgs) {
        const owners = await store.ownerIds(org.id, tx);
        if (owners.length === 1 && owners[0] === userId) orphaned.push(org);
      }
      if (orphaned.length) {
        throw orgError(
          'LAST_OWNER',
          `You are the last Owner of ${orphaned.map((o) => o.name).join(', ')}: make someone else an Owner or delete the organization first.`,
          { orgs: orphaned },
        );
      }
      // Recorded once the deletion has committed: writing to the audit chain here would take its
      // head's lock before the account row, the other way round from every other change.
      tx.afterCommit(() => {
        for (const org of orgs) {
          audit.recordDetached({
            action: 'org.member_removed',
            orgId: org.id,
            actorId: userId,
            targetType: 'user',
            targetId: userId,
            data: { reason: 'account_deleted' },
            context,
          });
        }
      });
    },

    /**
     * Whether removing a factor (leaving the account with `remainingKinds`) would put it out of an
     * org's policy whose grace period is over: mfa then refuses (LAST_FACTOR_REQUIRED).
     */
    async factorRequired(userId: string, remainingKinds: readonly string[], tx?: Tx): Promise<boolean> {
      for (const org of await store.listOrgsOf(userId, tx)) {
        const access = await deps.access.resolve(userId, org.id, tx);
        if (
          access &&
          access.graceOver &&
          (access.policy.require_mfa || remainingKinds.length > 0) &&
          !meetsPolicy(access.policy, remainingKinds)
        ) {
          return true;
        }
      }
      return false;
    },
  };
}

export type OrgService = ReturnType<typeof createOrgService>;
