import type { WithTransaction } from '../../infra/db/unit-of-work.js';
import type { RolePreset } from '../../infra/db/schema.js';
import type { Permission } from '../../shared/permissions.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import { orgError } from './errors.js';
import type { Actor } from './members.js';
import { DEFAULT_AGENCY_PERMISSIONS } from './presets.js';
import { viewOf, type OrgService } from './service.js';
import type { OrgStore } from './store.js';

/**
 * Agency clients: an org with clients:manage creates orgs it manages. Its members who hold
 * clients:manage act in them with the permissions granted here (tokens say so with `act`),
 * without being members; a client's own people join it by invitation, its first Owner invited
 * by the agency.
 */
export function createClientService(deps: { store: OrgStore; orgs: OrgService; withTransaction: WithTransaction; audit: AuditService }) {
  const { store, withTransaction, audit } = deps;
  return {
    async create(actor: Actor, input: { name: string; preset: RolePreset; permissions?: Permission[] }, context: AuditContext) {
      const agency = await store.findOrg(actor.orgId);
      if (!agency || agency.managed_by !== null || actor.agencyId !== null) {
        throw orgError('NOT_AN_AGENCY', 'A client organization cannot have clients of its own.');
      }
      // An agency never holds ownership powers in a client: billing, deletion and further clients stay the client's.
      const granted = input.permissions ?? [...DEFAULT_AGENCY_PERMISSIONS];
      const beyond = granted.filter((p) => !DEFAULT_AGENCY_PERMISSIONS.includes(p));
      if (beyond.length) {
        throw orgError('ESCALATION_DENIED', `An agency cannot be granted ${beyond.join(', ')} in a client organization.`, {
          missing: beyond,
        });
      }
      await deps.orgs.requireVerified(actor.userId);
      const clientId = await withTransaction(async (tx) => {
        const client = await deps.orgs.insertOrg(tx, {
          name: input.name,
          preset: input.preset,
          createdBy: actor.userId,
          managedBy: actor.orgId,
          agencyPermissions: [...new Set(granted)].sort(),
        });
        for (const orgId of [actor.orgId, client.id]) {
          await audit.record(
            {
              action: 'org.client_created',
              orgId,
              actorId: actor.userId,
              targetType: 'org',
              targetId: client.id,
              data: { name: input.name, agency_id: actor.orgId, permissions: granted },
              context,
            },
            tx,
          );
        }
        return client.id;
      });
      const org = await store.findOrg(clientId);
      return { ...viewOf(org!), agency_permissions: org!.agency_permissions };
    },

    async list(agencyId: string) {
      return (await store.listClients(agencyId)).map((org) => ({ ...viewOf(org), agency_permissions: org.agency_permissions }));
    },
  };
}

export type ClientService = ReturnType<typeof createClientService>;
