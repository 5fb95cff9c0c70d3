import type { OrgPlan } from '../../infra/db/schema.js';
import type { ServiceCredential } from '../../http/service-credential.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { KeyService } from '../tokens/index.js';
import { adminError } from './errors.js';

type Deps = {
  audit: AuditService;
  /** Every live session of the user; the count. */
  revokeAllSessions: (userId: string, reason: string) => Promise<number>;
  /** Every live personal access token of the user (with its access tokens); the count. */
  revokeAllTokens: (userId: string, actorId: string, reason: string, context: AuditContext) => Promise<number>;
  /** Throws USER_NOT_FOUND when the account does not exist. */
  requireUser: (userId: string) => Promise<unknown>;
  /** Sets the plan (audited in the org's trail, broadcast to every instance); null: no such org. */
  setPlan: (orgId: string, plan: OrgPlan, actorId: string, context: AuditContext) => Promise<{ id: string; plan: OrgPlan } | null>;
  keys: Pick<KeyService, 'rotate'>;
};

/** What operators do with an operator token. Each action is audited with the operator as actor (and the token used). */
export function createAdminService(deps: Deps) {
  const { audit } = deps;
  const via = (operator: ServiceCredential) => ({ via: 'operator_token', pat_id: operator.patId });

  return {
    /**
     * An incident's sign-out: every session of the account and every personal access token (of
     * every org, and operator tokens), with the access tokens they gave, refused at once.
     */
    async revokeUserSessions(operator: ServiceCredential, userId: string, context: AuditContext) {
      await deps.requireUser(userId);
      const reason = 'revoked_by_operator';
      const revoked = await deps.revokeAllSessions(userId, reason);
      const tokens = await deps.revokeAllTokens(userId, operator.userId, reason, context);
      audit.recordDetached({
        action: 'admin.user_sessions_revoked',
        actorId: operator.userId,
        targetType: 'user',
        targetId: userId,
        data: { count: revoked, tokens, ...via(operator) },
        context,
      });
      return { revoked, tokens_revoked: tokens };
    },

    async setPlan(operator: ServiceCredential, orgId: string, plan: OrgPlan, context: AuditContext) {
      const updated = await deps.setPlan(orgId, plan, operator.userId, context);
      if (!updated) throw adminError('ORG_NOT_FOUND', 'No organization has that id.');
      return updated;
    },

    /** The emergency rotation: the new key signs at once; the old one stays in the JWKS until its last token expires. */
    async rotateKeys(operator: ServiceCredential, context: AuditContext) {
      const rotation = await deps.keys.rotate({ now: true });
      audit.recordDetached({
        action: 'admin.signing_key_rotated',
        actorId: operator.userId,
        targetType: 'signing_key',
        targetId: rotation.kid,
        data: { activates_at: rotation.activatesAt.toISOString(), ...via(operator) },
        context,
      });
      return { kid: rotation.kid, activates_at: rotation.activatesAt.toISOString() };
    },
  };
}

export type AdminService = ReturnType<typeof createAdminService>;
