import type { Clock } from '../../infra/clock.js';
import type { Tx } from '../../infra/db/unit-of-work.js';
import type { Revocations } from './revocations.js';
import type { SessionStore } from './store.js';

/** Why an access token is no longer accepted: its session (or PAT) was revoked, or its org roles changed since it was issued. */
export type TokenRevocation = 'session' | 'stale' | null;

/** A personal access token being revoked: its access tokens (sid = its id) are refused from the commit on. */
export type RevokedPat = { id: string; userId: string; orgId: string | null; expiresAt: Date };

/**
 * The revocations that are not a session's own: a member's org roles version (a role change or a
 * removal) and personal access tokens, and the one check every access token goes through
 * (`tokenRevocation`: the authenticator and introspection). Written to Postgres on the caller's
 * transaction, marked in the KV store and published once it commits (revocations.ts).
 */
export function createTokenRevocationRules({ store, revocations, clock }: { store: SessionStore; revocations: Revocations; clock: Clock }) {
  return {
    /**
     * Members' roles in an org changed (or they left it): their access tokens for the org issued
     * before each one's not-before (nextNotBefore) are refused from the commit on, on every
     * instance (the revocations table, the KV marks, the revocations channel).
     */
    async rolesChanged(orgId: string, changes: ReadonlyArray<{ userId: string; notBefore: Date }>, reason: string, tx: Tx) {
      const rows = changes.map((c) => ({
        orgId,
        userId: c.userId,
        at: c.notBefore,
        until: new Date(c.notBefore.getTime() + revocations.horizonSeconds * 1000),
        reason,
      }));
      await store.recordMemberNotBefore(rows, tx);
      tx.afterCommit(() => revocations.markMembers(rows));
    },

    /**
     * Personal access tokens were revoked (on the caller's transaction when given): a `pat` row in
     * the revocations table for each whose access tokens may still be alive, and, from the commit
     * on, a KV mark under its id, which those tokens carry as their sid (so `tokenRevocation`
     * refuses them on every instance), published on the revocations channel.
     */
    async revokePats(pats: readonly RevokedPat[], reason: string, tx?: Tx) {
      const now = clock.now();
      const rows = pats
        .map((p) => ({
          patId: p.id,
          userId: p.userId,
          orgId: p.orgId,
          reason,
          at: now,
          // The last access token exchanged from it was issued before it expired, or now.
          until: new Date(Math.min(now.getTime(), p.expiresAt.getTime()) + revocations.horizonSeconds * 1000),
        }))
        .filter((r) => r.until > now);
      await store.recordPatRevocations(rows, tx);
      const marks = () =>
        revocations.mark(
          rows.map((r) => ({ sid: r.patId, until: r.until })),
          'pat',
        );
      if (tx) tx.afterCommit(marks);
      else await marks();
    },

    /** A member's current not-before in an org (seconds; null: no change of theirs still matters). */
    memberNotBefore: (orgId: string, userId: string) => revocations.memberNotBefore(orgId, userId),

    /** Whether an access token still stands: its session, and its org roles (also those of the agency it acts through). */
    async tokenRevocation(claims: {
      sid: string;
      sub: string;
      iat: number;
      rv?: number;
      org_id?: string | null;
      act?: { org_id?: string };
    }): Promise<TokenRevocation> {
      const orgs = [claims.org_id, claims.act?.org_id].filter((o): o is string => typeof o === 'string');
      const [revoked, ...notBefores] = await Promise.all([
        revocations.isRevoked(claims.sid),
        ...orgs.map((o) => revocations.memberNotBefore(o, claims.sub)),
      ]);
      if (revoked) return 'session';
      // Judged by the roles' version the token was built from, not by when it was signed: a token
      // signed just after a change from roles read just before it is still refused.
      const version = claims.rv ?? claims.iat;
      return notBefores.some((nb) => nb !== null && version < nb) ? 'stale' : null;
    },
  };
}
