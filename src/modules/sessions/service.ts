import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Tx } from '../../infra/db/unit-of-work.js';
import { randomToken, sha256 } from '../../infra/random.js';
import type { AccessTokens, TokenPair } from '../tokens/index.js';
import { tokenError } from '../tokens/errors.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { RequestContext } from '../../shared/context.js';
import type { Revocations } from './revocations.js';
import type { RevokedSession, SessionRow, SessionStore, SpendingClient } from './store.js';
import { openSuccessor, sealSuccessor } from './successor.js';
import { sessionError } from './errors.js';
import { deviceLabel } from './device.js';

export type { TokenPair };

export type StartSessionInput = {
  userId: string;
  orgId?: string | null;
  amr: string[];
  aal: number;
  context: AuditContext;
};

type Deps = {
  store: SessionStore;
  accessTokens: AccessTokens;
  revocations: Revocations;
  audit: AuditService;
  clock: Clock;
  refreshTokenTtl: number;
  reuseGraceSeconds: number;
};

export type RevokeAllOptions = {
  /** Revoke inside this transaction; the marks are set once it has committed. */
  tx?: Tx;
  exceptSessionId?: string;
};

export function createSessionService(deps: Deps) {
  const { store, accessTokens, revocations, audit, clock } = deps;

  async function pairFor(
    session: Pick<SessionRow, 'id' | 'user_id' | 'org_id' | 'amr' | 'aal' | 'expires_at'>,
    refreshToken: string,
    now: Date,
  ): Promise<TokenPair> {
    const access = await accessTokens.sign({
      sub: session.user_id,
      sid: session.id,
      org_id: session.org_id,
      // Organizations fill these in; the claims are already part of the contract.
      roles: [],
      permissions: [],
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
      const session = {
        id: randomUUID(),
        user_id: input.userId,
        org_id: input.orgId ?? null,
        aal: input.aal,
        amr: input.amr,
        expires_at: new Date(now.getTime() + deps.refreshTokenTtl * 1000),
        idle_ttl_seconds: null,
        ip: input.context.ip ?? null,
        user_agent: input.context.userAgent?.slice(0, 512) ?? null,
        auth_at: now,
      };
      const refreshToken = randomToken();
      // A login that raced its account's deletion finds the account gone when it opens the session.
      if (!(await store.insertWithRefresh(session, sha256(refreshToken)))) {
        throw sessionError('USER_NOT_FOUND', 'The account no longer exists.');
      }
      return pairFor(session, refreshToken, now);
    },

    /**
     * Rotation. Exactly one caller spends a token. The client that spent it may retry it once
     * within the grace window (it lost the response) and gets the same successor back, as long
     * as that successor is unspent; the retry is audited. Any other use of a spent token (a
     * second retry, another IP or user agent, after the window, after the successor was used)
     * is taken for theft: the session ends.
     */
    async refresh(refreshToken: string, context: RequestContext): Promise<TokenPair> {
      const hash = sha256(refreshToken);
      const successor = randomToken();
      const now = clock.now();
      const client = clientOf(context);
      const won = await store.spend(hash, sha256(successor), sealSuccessor(refreshToken, successor), client, now);
      if (won) return pairFor(won, successor, now);

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
      return rows.map((r) => ({
        id: r.id,
        current: r.id === currentSessionId,
        user: { id: r.user_id, email },
        roles: [] as string[],
        created_at: r.created_at.toISOString(),
        last_seen_at: r.last_seen_at.toISOString(),
        expires_at: r.expires_at.toISOString(),
        ip: r.ip,
        user_agent: r.user_agent,
        device: deviceLabel(r.user_agent),
        aal: r.aal,
      }));
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
      return (await revokeWhere({ userId, exceptSessionId: options.exceptSessionId }, reason, options.tx)).length;
    },

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
