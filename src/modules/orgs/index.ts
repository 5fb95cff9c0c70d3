import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { Mailer } from '../../infra/mailer.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { OrgPlan } from '../../infra/db/schema.js';
import type { Routes } from '../../http/types.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import type { Tx } from '../../infra/db/unit-of-work.js';
import { createOrgAccess, ORGS_CHANNEL } from './access.js';
import { createActorLock } from './actor-lock.js';
import { createClientService } from './clients.js';
import { createOrgGuard } from './guard.js';
import { createInvitationService, type InvitationAccounts, type InvitationLinks } from './invitations.js';
import { createInvitationStore } from './invitations-store.js';
import { createMemberService, type RevokeMemberTokens } from './members.js';
import type { People } from './people.js';
import { createRoleService } from './roles.js';
import { clientRoutes } from './routes/clients.js';
import { invitationRoutes } from './routes/invitations.js';
import { orgRoutes } from './routes/orgs.js';
import { roleRoutes } from './routes/roles.js';
import { teamRoutes } from './routes/team.js';
import { createOrgService } from './service.js';
import { createOrgStore } from './store.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  kv: KeyValueStore;
  logger: Logger;
  clock: Clock;
  audit: AuditService;
  sessions: SessionService;
  /** Accounts' names and emails, mfa's factors. */
  people: People;
  /** Invitations: the mail with the link, where the link points, how long it lasts, and the accounts it joins or creates. */
  mailer: Mailer;
  links: InvitationLinks;
  invitationTtlDays: number;
  accounts: InvitationAccounts;
  /** A member leaves an org, or an admin ends their sessions in it: personal access tokens (built later, depends on orgs) revoke theirs of it. */
  revokeMemberTokens?: RevokeMemberTokens;
};

/**
 * Organizations: orgs, role presets and custom roles, members, the org security policy, agency
 * clients, and the org claims of access tokens (handed to sessions by the composition root).
 */
export async function createOrgsModule(deps: Deps) {
  const store = createOrgStore(deps.db);
  const access = createOrgAccess({
    store,
    clock: deps.clock,
    memberNotBefore: (orgId, userId) => deps.sessions.memberNotBefore(orgId, userId),
    factorKinds: async (userId) => (await deps.people.factorKindsOf([userId])).get(userId) ?? [],
  });
  // Every instance forgets what it remembers of an org whose settings changed.
  const unsubscribe = await deps.kv.subscribe(ORGS_CHANNEL, (message) => {
    try {
      const { org_id } = JSON.parse(message) as { org_id?: unknown };
      if (typeof org_id === 'string') access.forgetOrg(org_id);
    } catch {
      deps.logger.warn('unreadable message on the orgs channel');
    }
  });
  const orgChanged = async (orgId: string) => {
    access.forgetOrg(orgId);
    await deps.kv.publish(ORGS_CHANNEL, JSON.stringify({ type: 'org_changed', org_id: orgId }));
  };
  const lockActor = createActorLock(store, access);
  const common = { store, lockActor, withTransaction: deps.withTransaction, sessions: deps.sessions, audit: deps.audit, clock: deps.clock };
  const service = createOrgService({ ...common, access, people: deps.people, orgChanged });
  const members = createMemberService({ ...common, people: deps.people, revokeMemberTokens: deps.revokeMemberTokens });
  const roles = createRoleService(common);
  const clients = createClientService({ store, orgs: service, withTransaction: deps.withTransaction, audit: deps.audit });
  const guard = createOrgGuard(access);
  const invitations = createInvitationService({
    store,
    lockActor,
    access,
    invitations: createInvitationStore(deps.db),
    withTransaction: deps.withTransaction,
    audit: deps.audit,
    clock: deps.clock,
    people: deps.people,
    accounts: deps.accounts,
    mailer: deps.mailer,
    logger: deps.logger,
    links: deps.links,
    ttlDays: deps.invitationTtlDays,
  });

  const routes: Routes = async (app, kit) => {
    await orgRoutes(service, guard)(app, kit);
    await teamRoutes(members, guard)(app, kit);
    await roleRoutes(roles, guard)(app, kit);
    await clientRoutes(clients, guard)(app, kit);
    await invitationRoutes(invitations, guard)(app, kit);
  };
  /**
   * An operator sets the org's plan (PATCH /v1/admin/orgs/{org}); audited in the org's trail with
   * the operator as actor. Every instance forgets what it remembers of the org, so the next token
   * for it carries the new plan. Null: no such org.
   */
  const setPlan = (orgId: string, plan: OrgPlan, actorId: string, context: AuditContext) =>
    deps.withTransaction(async (tx) => {
      const org = await store.lockOrg(orgId, tx);
      if (!org) return null;
      const updated = await tx
        .updateTable('orgs')
        .set({ plan, updated_at: deps.clock.now() })
        .where('id', '=', orgId)
        .returning(['id', 'plan'])
        .executeTakeFirstOrThrow();
      await deps.audit.record(
        {
          action: 'org.plan_changed',
          orgId,
          actorId,
          targetType: 'org',
          targetId: orgId,
          data: { from: org.plan, to: plan, by: 'operator' },
          context,
        },
        tx,
      );
      tx.afterCommit(() => orgChanged(orgId));
      return updated;
    });
  /** For a module writing rows that refer to an org (pats): the org row's shared lock, first in the lock order. */
  const lockShared = (orgId: string, tx: Tx) => store.lockOrgShared(orgId, tx);
  return { service, access, members, roles, clients, invitations, guard, routes, setPlan, lockShared, close: unsubscribe };
}

export type OrgsModule = ReturnType<typeof createOrgsModule>;
export type { OrgService, LoginAccess } from './service.js';
export type { OrgAccess } from './access.js';
export type { FactorRule, EnrollableFactor } from './policy.js';
