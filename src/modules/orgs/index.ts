import type { Clock } from '../../infra/clock.js';
import type { Db } from '../../infra/db/connect.js';
import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { Routes } from '../../http/types.js';
import type { AuditService } from '../audit/index.js';
import type { SessionService } from '../sessions/index.js';
import { createOrgAccess } from './access.js';
import { createClientService } from './clients.js';
import { createOrgGuard } from './guard.js';
import { createMemberService } from './members.js';
import type { People } from './people.js';
import { createRoleService } from './roles.js';
import { clientRoutes } from './routes/clients.js';
import { orgRoutes } from './routes/orgs.js';
import { roleRoutes } from './routes/roles.js';
import { teamRoutes } from './routes/team.js';
import { createOrgService } from './service.js';
import { createOrgStore } from './store.js';

type Deps = {
  db: Db;
  withTransaction: WithTransaction;
  clock: Clock;
  audit: AuditService;
  sessions: SessionService;
  /** Accounts' names and emails, mfa's factors. */
  people: People;
};

/**
 * Organizations: orgs, role presets and custom roles, members, the org security policy, agency
 * clients, and the org claims of access tokens (handed to sessions by the composition root).
 */
export function createOrgsModule(deps: Deps) {
  const store = createOrgStore(deps.db);
  const access = createOrgAccess({ store, clock: deps.clock });
  const common = { store, withTransaction: deps.withTransaction, sessions: deps.sessions, audit: deps.audit, clock: deps.clock };
  const service = createOrgService({ ...common, access, people: deps.people });
  const members = createMemberService({ ...common, people: deps.people });
  const roles = createRoleService(common);
  const clients = createClientService({ store, orgs: service, withTransaction: deps.withTransaction, audit: deps.audit });
  const guard = createOrgGuard(access);

  const routes: Routes = async (app, kit) => {
    await orgRoutes(service, guard)(app, kit);
    await teamRoutes(members, guard)(app, kit);
    await roleRoutes(roles, guard)(app, kit);
    await clientRoutes(clients, guard)(app, kit);
  };
  return { service, access, members, roles, clients, guard, routes };
}

export type OrgsModule = ReturnType<typeof createOrgsModule>;
export type { OrgService, LoginAccess } from './service.js';
export type { OrgAccess } from './access.js';
export type { FactorRule, EnrollableFactor } from './policy.js';
