import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Tx } from '../../infra/db/unit-of-work.js';
import { randomToken, sha256 } from '../../infra/random.js';
import type { AccessTokens, TokenPair } from '../tokens/index.js';
import { tokenError } from '../tokens/errors.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { RequestContext } from '../../shared/context.js';
import { notBeforeSeconds, type Revocations } from './revocations.js';
import type { RevokedSession, SessionRow, SessionStore, SpendingClient, SwitchOrg } from './store.js';
import { AppError } from '../../shared/errors.js';
import { openSuccessor, sealSuccessor } from './successor.js';
import { sessionError } from './errors.js';
import { deviceLabel } from './device.js';
import { createTokenRevocationRules } from './token-revocation.js';

export type { TokenPair };

/**
 * What a session's access tokens carry for its org, from the orgs module (handed in by the
 * composition root: orgs depends on sessions). `notBefore`: the member's last role change; a
 * token is never issued earlier than it (so the revocation check tells old roles from new).
 * `limits`: the org's session lifetimes, which shorten the defaults.
 */
export type OrgGrant = {
  roles: string[];
  permissions: string[];
  /** RFC 8693 actor: the agency through which the user acts in a client org. */
  act?: { org_id: string };
  /** The org's plan: resource servers apply its rate limits. */
  plan: string;
  notBefore: Date | null;
  limits: { absoluteTtl: number | null; idleTtl: number | null };
};

/** Resolves (and checks) a user's access to an org for a session at this aal; throws the org's errors (not a member, policy). */
export type OrgGrants = (input: { userId: string; orgId: string; aal: number; method: string | null }) => Promise<OrgGrant>;

export type StartSessionInput = {
  userId: string;
  orgId?: string | null;
  /** The org's grant when the caller has just resolved it (login checks the org's policy first). */
  grant?: OrgGrant;
  amr: string[];
  aal: number;
  /** What proved the second factor (totp, backup_code, sms, webauthn); null or absent: the password alone. */
  method?: string | null;
  context: AuditContext;
};

type Deps = {
  store: SessionStore;
  accessTokens: AccessTokens;
  revocations: Revocations;
  audit: AuditService;
  clock: Clock;
  orgGrants: OrgGrants;
  refreshTokenTtl: number;
  reuseGraceSeconds: number;
};

export type RevokeAllOptions = {
  /** Revoke inside this transaction; the marks are set once it has committed. */
  tx?: Tx;
  exceptSessionId?: string;
  /** Only the sessions currently in this org. */
  orgId?: string;
  /** Only the sessions in this org or in none (those could switch into it). */
  orgOrNone?: string;
};

/** A session as its lists show it. */
const viewOf = (r: SessionRow, email: string) => ({
  id: r.id,
  user: { id: r.user_id, email },
  created_at: r.created_at.toISOString(),
  last_seen_at: r.last_seen_at.toISOString(),
  expires_at: r.expires_at.toISOString(),
  ip: r.ip,
  user_agent: r.user_agent,
  device: deviceLabel(r.user_agent),
  aal: r.aal,
});

/**
 * The org claims of an access token from the org's grant: one function for session tokens and
 * those exchanged from a personal access token (which narrows `permissions` to its scopes).
 */
export function orgClaims(grant: OrgGrant) {
  return {
    roles: grant.roles,
    permissions: grant.permissions,
    ...(grant.act ? { act: grant.act } : {}),
    plan: grant.plan,
    // The version of the roles the token was built from (their last change, in seconds):
    // a change publishes a newer one, and tokens carrying an older version are refused.
    rv: grant.notBefore ? notBeforeSeconds(grant.notBefore) : 0,
  };
}

export function createSessionService(deps: Deps) {
  const { store, accessTokens, revocations, audit, clock } = deps;
  const tokenRules = createTokenRevocationRules({ store, revocations, clock });

  async function pairFor(
    session: Pick<SessionRow, 'id' | 'user_id' | 'org_id' | 'amr' | 'aal' | 'expires_at' | 'auth_method'>,
    refreshToken: string,
    now: Date,
    grant?: OrgGrant,
  ): Promise<TokenPair> {
    const org = session.org_id
      ? (grant ?? (await deps.orgGrants({ userId: session.user_id, orgId: session.org_id, aal: session.aal, method: session.auth_method })))
      : null;
    const access = await accessTokens.sign({
      sub: session.user_id,
      sid: session.id,
      org_id: session.org_id,
      ...(org ? orgClaims(org) : { roles: [], permissions: [] }),
      amr: session.amr,
      aal: session.aal,
    });
    return {
      status: 'authenticated',
      access_token: access.token,
      token_type: 'Bearer',
      expires_in: accessTokens.ttl,
      refresh_token: refreshToken,
      // Measured from the moment the operation started, so a fresh login says exactly 43200
      // rather than 43199 once the database round trip has taken a few milliseconds.
      refresh_expires_in: Math.max(0, Math.floor((session.expires_at.getTime() - now.getTime()) / 1000)),
      session_id: session.id,
    };
  }

  /** The KV marks of revocations that matter (after the commit, when inside a transaction). */
  async function markRevoked(revoked: RevokedSession[]) {
    const marks = revoked.flatMap((r) => (r.until ? [{ sid: r.id, until: r.until }] : []));
    if (marks.length) await revocations.mark(marks);
  }

  /** Revokes in Postgres (sessions and the revocations table, one statement) and returns the ids. */
  async function revokeWhere(where: Parameters<SessionStore['revoke']>[0], reason: string, tx?: Tx): Promise<string[]> {
    const revoked = await store.revoke(where, reason, clock.now(), revocations.horizonSeconds, tx);
    if (tx) tx.afterCommit(() => markRevoked(revoked));
    else await markRevoked(revoked);
    return revoked.map((r) => r.id);
  }

  /** The client as recorded on a spent refresh token (user agents are kept to 512 characters, as on sessions). */
  const clientOf = (context: RequestContext): SpendingClient => ({ ip: context.ip, userAgent: context.userAgent?.slice(0, 512) ?? null });

  return {
    async start(input: StartSessionInput): Promise<TokenPair> {
      const now = clock.now();
      const orgId = input.orgId ?? null;
      const method = input.method ?? null;
      const grant = orgId ? (input.grant ?? (await deps.orgGrants({ userId: input.userId, orgId, aal: input.aal, method }))) : undefined;
      // The org's policy shortens the defaults, never lengthens them.
      const absolute = Math.min(deps.refreshTokenTtl, grant?.limits.absoluteTtl ?? Infinity);
      const session = {
        id: randomUUID(),
        user_id: input.userId,
        org_id: orgId,
        aal: input.aal,
        amr: input.amr,
        expires_at: new Date(now.getTime() + absolute * 1000),
        idle_ttl_seconds: grant?.limits.idleTtl ?? null,
        ip: input.context.ip ?? null,
        user_agent: input.context.userAgent?.slice(0, 512) ?? null,
        auth_at: now,
        auth_method: method,
      };
      const refreshToken = randomToken();
      // A login that raced its account's deletion finds the account gone when it opens the session.
      if (!(await store.insertWithRefresh(session, sha256(refreshToken)))) {
        throw sessionError('USER_NOT_FOUND', 'The account no longer exists.');
      }
      return pairFor(session, refreshToken, now, grant);
    },

    /**
     * Rotation. Exactly one caller spends a token. The client that spent it may retry it once
     * within the grace window (it lost the response) and gets the same successor back, as long
     * as that successor is unspent; the retry is audited. Any other use of a spent token (a
     * second retry, another IP or user agent, after the window, after the successor was used)
     * is taken for theft: the session ends.
     */
    async refresh(refreshToken: string, context: RequestContext, options: { orgId?: string | null } = {}): Promise<TokenPair> {
      const hash = sha256(refreshToken);
      const successor = randomToken();
      const now = clock.now();
      const client = clientOf(context);
      // Switching org (same session): checked before the token is spent, so a refusal (not a
      // member, the org's policy) leaves the session as it was. Unknown or spent tokens go on
      // to the spend below, which answers them as always (reuse detection included).
      let switchTo: (SwitchOrg & { grant?: OrgGrant }) | undefined;
      if (options.orgId !== undefined) {
        const live = await store.peekRefresh(hash, now);
        if (live && live.org_id !== options.orgId) {
          const grant = options.orgId
            ? await deps.orgGrants({ userId: live.user_id, orgId: options.orgId, aal: live.aal, method: live.auth_method })
            : undefined;
          switchTo = {
            orgId: options.orgId,
            grant,
            absoluteTtl: grant?.limits.absoluteTtl ?? null,
            idleTtl: grant?.limits.idleTtl ?? null,
          };
        }
      }
      const won = await store.spend(hash, sha256(successor), sealSuccessor(refreshToken, successor), client, now, switchTo);
      if (won) {
        if (switchTo) return pairFor(won, successor, now, switchTo.grant);
        try {
          return await pairFor(won, successor, now);
        } catch (err) {
          // The org refused the session (no longer a member or agency, its policy now asks for
          // more): the token is given back unspent, so the client can still switch org or sign out.
          if (err instanceof AppError) await store.unspend(hash, sha256(successor));
          throw err;
        }
      }

      const row = await store.findRefresh(hash);
      if (!row || !row.used_at || row.revoked_at || row.expires_at <= now) {
        throw tokenError('INVALID_GRANT', 'The refresh token is invalid, expired or revoked.');
      }
      const ageSeconds = (now.getTime() - row.used_at.getTime()) / 1000;
      const withinGrace = ageSeconds <= deps.reuseGraceSeconds;
      const sameClient = row.spent_ip === client.ip && row.spent_user_agent === client.userAgent;
      const previous = row.successor_enc ? openSuccessor(refreshToken, row.successor_enc) : null;
      if (withinGrace && sameClient && !row.replayed_at && previous) {
        const session = await store.claimReplay(hash, sha256(previous), now);
        if (session) {
          audit.recordDetached({
            action: 'session.refresh_grace_replay',
            actorId: session.user_id,
            targetType: 'session',
            targetId: session.id,
            data: { spent_seconds_ago: Math.round(ageSeconds) },
            context,
          });
          return pairFor(session, previous, now);
        }
      }
      await revokeWhere({ userId: row.user_id, sessionId: row.session_id }, 'refresh_token_reuse');
      audit.recordDetached({
        action: 'session.refresh_token_reused',
        actorId: row.user_id,
        targetType: 'session',
        targetId: row.session_id,
        data: { spent_seconds_ago: Math.round(ageSeconds), within_grace: withinGrace, same_client: sameClient },
        context,
      });
      throw tokenError('INVALID_GRANT', 'The refresh token was already used; the session has been revoked.');
    },

    async list(userId: string, currentSessionId: string | null, email: string) {
      // Postgres is the source of truth: a revoked session has revoked_at set before its mark exists.
      const rows = await store.listActive(userId, clock.now());
      return rows.map((r) => ({ ...viewOf(r, email), current: r.id === currentSessionId, roles: [] as string[] }));
    },

    async revoke(userId: string, sessionId: string, reason: string, context: AuditContext) {
      const sids = await revokeWhere({ userId, sessionId }, reason);
      if (sids.length === 0) throw sessionError('SESSION_NOT_FOUND', 'No live session of yours has that id.');
      audit.recordDetached({
        action: 'session.revoked',
        actorId: userId,
        targetType: 'session',
        targetId: sessionId,
        data: { reason },
        context,
      });
    },

    /** Audited only when it revoked something: nothing happened otherwise. */
    async revokeOthers(userId: string, keepSessionId: string, context: AuditContext) {
      const sids = await revokeWhere({ userId, exceptSessionId: keepSessionId }, 'revoke_others');
      if (sids.length) audit.recordDetached({ action: 'session.revoked_others', actorId: userId, data: { count: sids.length }, context });
      return sids.length;
    },

    /**
     * Every live session of a user (password change, reset, deletion, email verification).
     * Inside the caller's transaction when given one: the rows and their revocation records
     * change with it, the marks follow its commit.
     */
    async revokeAll(userId: string, reason: string, options: RevokeAllOptions = {}) {
      const { exceptSessionId, orgId, orgOrNone } = options;
      return (await revokeWhere({ userId, exceptSessionId, orgId, orgOrNone }, reason, options.tx)).length;
    },

    /** Every live session in an org, whoever's (the org was deleted), on the caller's transaction. */
    async revokeOrg(orgId: string, reason: string, tx: Tx) {
      return (await revokeWhere({ orgId }, reason, tx)).length;
    },

    /** A user's live sessions in an org, as the session list shows them (an org admin's view of a member). */
    async listInOrg(userId: string, orgId: string, email: string) {
      const rows = await store.listActiveInOrg(userId, orgId, clock.now());
      return rows.map((r) => viewOf(r, email));
    },

    /** An org's policy shortened its session lifetimes: its live sessions follow (on the policy's transaction). */
    async applyOrgLimits(orgId: string, limits: { absoluteTtl: number | null; idleTtl: number | null }, tx: Tx) {
      await store.applyOrgLimits(orgId, limits.absoluteTtl, limits.idleTtl, clock.now(), tx);
    },

    /** Each user's last login, for the team list. */
    lastLogins: (userIds: readonly string[]) => store.lastLogins(userIds),

    ...tokenRules,

    /** For step-up: when and how strongly the session last authenticated (null: not live). */
    async authState(sessionId: string) {
      return store.authState(sessionId, clock.now());
    },

    /** A reauthentication just succeeded on this session. False when the session is no longer live. */
    async recordAuthentication(sessionId: string, userId: string, proof: { aal: number; amr: string[] }) {
      return store.recordAuthentication(sessionId, userId, proof.aal, proof.amr, clock.now());
    },

    async isRevoked(sid: string) {
      return revocations.isRevoked(sid);
    },
  };
}

export type SessionService = ReturnType<typeof createSessionService>;
