import { randomUUID } from 'node:crypto';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { OrgAccess } from '../orgs/index.js';
import type { RevokedPat, SessionService } from '../sessions/index.js';
import { patError } from './errors.js';
import { generatePat } from './format.js';
import { MAX_LIVE_PATS } from './schemas.js';
import type { PatStore, RevokedRow } from './store.js';
import { createPatUse, type PatUseDeps } from './use.js';

type Deps = PatUseDeps & {
  store: PatStore;
  withTransaction: WithTransaction;
  audit: AuditService;
  sessions: Pick<SessionService, 'revokePats' | 'isRevoked'>;
  orgs: PatUseDeps['orgs'] & {
    /** The user's access to the org, read fresh (creation). */
    resolve(userId: string, orgId: string, ex?: Tx): Promise<OrgAccess | null>;
    /** The org row's shared lock (false: no such org); first in the lock order, before the account row. */
    lockShared(orgId: string, tx: Tx): Promise<boolean>;
  };
  /** Locks the account row in the transaction (false: the account is gone); accounts owns it. */
  lockAccount: (userId: string, tx: Tx) => Promise<boolean>;
};

const viewOf = (r: {
  id: string;
  name: string;
  prefix: string;
  org_id: string | null;
  scopes: string[];
  created_at: Date;
  expires_at: Date;
  last_used_at: Date | null;
}) => ({
  id: r.id,
  name: r.name,
  prefix: r.prefix,
  org_id: r.org_id,
  scopes: r.scopes,
  created_at: r.created_at.toISOString(),
  last_used_at: r.last_used_at?.toISOString() ?? null,
  expires_at: r.expires_at.toISOString(),
});

/**
 * Personal access tokens: creation (scopes the creator holds), lists and revocation; and their
 * use (use.ts: the token-exchange grant, service credentials, introspection's view).
 */
export function createPatService(deps: Deps) {
  const { store, withTransaction, clock, audit, sessions } = deps;

  /** Revocations made inside a transaction: the record and the marks (sessions), and their audit events after the commit. */
  async function revoked(rows: RevokedRow[], reason: string, tx: Tx, actorId: string | null, context: AuditContext) {
    const pats: RevokedPat[] = rows.map((r) => ({ id: r.id, userId: r.user_id, orgId: r.org_id, expiresAt: r.expires_at }));
    await sessions.revokePats(pats, reason, tx);
    tx.afterCommit(() => {
      for (const r of rows) {
        audit.recordDetached({
          action: 'pat.revoked',
          orgId: r.org_id,
          actorId,
          targetType: 'pat',
          targetId: r.id,
          data: { name: r.name, owner_id: r.user_id, reason },
          context,
        });
      }
    });
  }

  return {
    ...createPatUse(deps),

    /**
     * A new token for an org the creator has access to, with scopes they hold there now. The
     * route asks for a recent authentication first. The secret is in this answer only.
     */
    async create(
      userId: string,
      input: { name: string; org_id: string; scopes: string[]; expires_in_days: number },
      context: AuditContext,
    ) {
      const now = clock.now();
      const id = randomUUID();
      const token = generatePat();
      const expiresAt = new Date(now.getTime() + input.expires_in_days * 86_400_000);
      const scopes = [...input.scopes].sort();
      await withTransaction(async (tx) => {
        // The lock order of a member's removal and of the account's deletion: the org row (shared
        // here: it waits for a removal in progress), then the account row. A removal either sees
        // this token or happened before the access is read below; and the insert's foreign key
        // takes no org lock after the account's (which deadlocked with a removal).
        if (!(await deps.orgs.lockShared(input.org_id, tx))) throw patError('ORG_NOT_FOUND', 'No organization of yours has that id.');
        if (!(await deps.lockAccount(userId, tx))) throw patError('USER_NOT_FOUND', 'The account no longer exists.');
        const access = await deps.orgs.resolve(userId, input.org_id, tx);
        if (!access) throw patError('ORG_NOT_FOUND', 'No organization of yours has that id.');
        const { allowed, missing } = hasPermissions(access.permissions, scopes as Permission[]);
        if (!allowed) {
          throw patError('ESCALATION_DENIED', `You do not hold ${missing.join(', ')} in this organization.`, { missing });
        }
        if ((await store.countLive(userId, now, tx)) >= MAX_LIVE_PATS) {
          throw patError('PAT_LIMIT_REACHED', `An account holds at most ${MAX_LIVE_PATS} live tokens: revoke one first.`);
        }
        await store.insert(
          {
            id,
            user_id: userId,
            org_id: input.org_id,
            name: input.name,
            prefix: token.prefix,
            token_hash: token.hash,
            scopes,
            created_at: now,
            expires_at: expiresAt,
          },
          tx,
        );
        await audit.record(
          {
            action: 'pat.created',
            orgId: input.org_id,
            actorId: userId,
            targetType: 'pat',
            targetId: id,
            data: { name: input.name, prefix: token.prefix, scopes, expires_at: expiresAt.toISOString() },
            context,
          },
          tx,
        );
      });
      return {
        id,
        name: input.name,
        prefix: token.prefix,
        org_id: input.org_id,
        scopes,
        created_at: now.toISOString(),
        expires_at: expiresAt.toISOString(),
        token: token.secret,
      };
    },

    async list(userId: string) {
      return (await store.listOfUser(userId)).map(viewOf);
    },

    async listOrg(orgId: string) {
      return (await store.listOfOrg(orgId)).map((r) => ({ ...viewOf(r), user_id: r.user_id }));
    },

    /** The owner revokes one of theirs (another's id is not found). */
    async revoke(userId: string, id: string, context: AuditContext) {
      await withTransaction(async (tx) => {
        const rows = await store.revoke({ id, userId }, 'revoked_by_user', clock.now(), tx);
        if (rows.length === 0) throw patError('PAT_NOT_FOUND', 'No live token of yours has that id.');
        await revoked(rows, 'revoked_by_user', tx, userId, context);
      });
    },

    /** An org admin (api:manage) revokes one of the org's. */
    async revokeInOrg(actorId: string, orgId: string, id: string, context: AuditContext) {
      await withTransaction(async (tx) => {
        const rows = await store.revoke({ id, orgId }, 'revoked_by_org_admin', clock.now(), tx);
        if (rows.length === 0) throw patError('PAT_NOT_FOUND', 'No live token of this organization has that id.');
        await revoked(rows, 'revoked_by_org_admin', tx, actorId, context);
      });
    },

    /**
     * A member's tokens of these orgs die (orgs' hook, inside its transaction, the org row
     * locked): when they leave or are removed (the org, and the agency's clients they acted in
     * through it), and when an admin ends their sessions in the org. The account row is locked
     * first, as creation does, so a token being created at the same time is either seen here or
     * refused. The number revoked.
     */
    async revokeMemberTokens(input: { orgIds: readonly string[]; userId: string; actorId: string; reason: string }, tx: Tx) {
      await deps.lockAccount(input.userId, tx);
      const rows = await store.revoke({ orgIds: input.orgIds, userId: input.userId }, input.reason, clock.now(), tx);
      await revoked(rows, input.reason, tx, input.actorId, {});
      return rows.length;
    },

    /** An operator ends everything of an account: every token of it, of every org, and operator tokens. The number revoked. */
    async revokeAllOf(userId: string, actorId: string, reason: string, context: AuditContext) {
      return withTransaction(async (tx) => {
        await deps.lockAccount(userId, tx);
        const rows = await store.revoke({ userId }, reason, clock.now(), tx);
        await revoked(rows, reason, tx, actorId, context);
        return rows.length;
      });
    },

    /** The account is being deleted (its beforeDeletion, after the orgs' step): every token of it dies. */
    async accountDeleted(userId: string, tx: Tx, context: AuditContext) {
      await deps.lockAccount(userId, tx);
      const rows = await store.revoke({ userId }, 'account_deleted', clock.now(), tx);
      await revoked(rows, 'account_deleted', tx, userId, context);
    },
  };
}

export type PatService = ReturnType<typeof createPatService>;
