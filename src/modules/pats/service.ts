import { randomUUID } from 'node:crypto';
import type { Clock } from '../../infra/clock.js';
import type { Tx, WithTransaction } from '../../infra/db/unit-of-work.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { ServiceCredential } from '../../http/service-credential.js';
import { requestError } from '../../shared/common-errors.js';
import { AppError } from '../../shared/errors.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';
import type { RequestContext } from '../../shared/context.js';
import type { AuditContext, AuditService } from '../audit/index.js';
import type { OrgAccess } from '../orgs/index.js';
import { orgClaims, type OrgGrant, type RevokedPat, type SessionService } from '../sessions/index.js';
import type { AccessTokens } from '../tokens/index.js';
import { tokenError } from '../tokens/errors.js';
import { patError } from './errors.js';
import { generatePat, parsePat, type ParsedPat } from './format.js';
import { createLookupThrottle } from './lookup-throttle.js';
import { ACCESS_TOKEN_TYPE, MAX_LIVE_PATS, PAT_TOKEN_TYPE } from './schemas.js';
import type { LivePat, PatStore, RevokedRow } from './store.js';

/** A live personal access token as the introspection endpoint shows it (scopes: those in force now). */
export type PatInfo = { id: string; userId: string; orgId: string | null; scopes: string[]; createdAt: Date; expiresAt: Date };

/** What a use of a token (exchange, service credential) finds: the row, the scopes in force now, and whether it is an operator's. */
type InForce = { pat: LivePat; scopes: string[]; operator: boolean };

type Deps = {
  store: PatStore;
  withTransaction: WithTransaction;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  audit: AuditService;
  sessions: Pick<SessionService, 'revokePats' | 'isRevoked'>;
  accessTokens: AccessTokens;
  orgs: {
    /** The user's access to the org, read fresh (creation). */
    resolve(userId: string, orgId: string, ex?: Tx): Promise<OrgAccess | null>;
    /** The claims of a PAT's token for the org, from the orgs module's cache (exact: validated against the KV marks); refuses an owner out of policy. */
    grant: (input: { userId: string; orgId: string }) => Promise<OrgGrant>;
    /** The org row's shared lock (false: no such org); first in the lock order, before the account row. */
    lockShared(orgId: string, tx: Tx): Promise<boolean>;
  };
  /** Locks the account row in the transaction (false: the account is gone); accounts owns it. */
  lockAccount: (userId: string, tx: Tx) => Promise<boolean>;
  exchangesPerMinute: number;
  /** Unknown secrets (valid checksum, no token) a minute per client address before lookups are refused. */
  lookupMissesPerMinute: number;
};

/** How long a token's row is served from memory, and how many are kept (always behind the KV revocation mark). */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 20_000;
/** last_used_at is written at most this often per token. */
const TOUCH_INTERVAL_SECONDS = 60;

const rateKey = (patId: string, window: number) => `tessera:{pat}:exchanges:${patId}:${window}`;
const touchKey = (patId: string) => `tessera:{pat}:used:${patId}`;

// One answer for every refusal: the caller learns nothing about which check failed.
const invalidGrant = () => tokenError('INVALID_GRANT', 'The subject token is invalid, expired or revoked.');

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
 * Personal access tokens: creation (scopes the creator holds), lists and revocation, the
 * token-exchange grant, and the service credentials other endpoints authenticate with.
 *
 * A use (exchange, credential) touches no Postgres: the row comes from an in-process cache by the
 * secret's hash (60 s), trusted only after the token's revocation mark in the KV store says it is
 * not revoked (a revocation sets it from its commit on, on every instance, for longer than any
 * cache entry lives), and the owner's permissions come from the orgs module's exact cache. (In an
 * org with a factor policy, the owner's factors are read once a use: they meet it now, or not.)
 */
export function createPatService(deps: Deps) {
  const { store, withTransaction, kv, clock, logger, audit, sessions } = deps;
  const cache = new Map<string, { pat: LivePat; at: number }>();
  const misses = createLookupThrottle({ kv, clock, perMinute: deps.lookupMissesPerMinute });

  /**
   * The row of a well-formed secret: memory, else Postgres (unknown secrets are not remembered).
   * `ip`: the client's address, whose misses are throttled before the lookup (callers on the
   * public surface: exchange and service credentials).
   */
  async function rowOf(parsed: ParsedPat, ip?: string): Promise<LivePat | null> {
    const key = parsed.hash.toString('base64');
    const now = clock.now().getTime();
    const hit = cache.get(key);
    if (hit && now - hit.at < CACHE_TTL_MS) return hit.pat;
    if (misses.knownUnknown(key)) return null;
    const release = ip === undefined ? undefined : await misses.reserve(ip);
    const pat = (await store.findByHash(parsed.hash)) ?? null;
    cache.delete(key);
    if (pat) {
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(key, { pat, at: now });
      await release?.();
    } else {
      misses.missed(key);
    }
    return pat;
  }

  /** The owner's claims in the token's org now; null when they have no access any more (or are out of the org's policy). */
  async function grantFor(pat: LivePat) {
    try {
      return await deps.orgs.grant({ userId: pat.user_id, orgId: pat.org_id! });
    } catch (err) {
      if (err instanceof AppError) return null;
      throw err;
    }
  }

  // When this instance last asked the KV store to claim a token's minute: a busy token costs one
  // Redis command a minute per instance, not one per use.
  const claimed = new Map<string, number>();

  /** last_used_at, at most once a minute per token (across instances: the KV claim), never delaying or failing the use. */
  function touchLater(patId: string) {
    const now = clock.now().getTime();
    const last = claimed.get(patId);
    if (last !== undefined && now - last < TOUCH_INTERVAL_SECONDS * 1000) return;
    if (claimed.size >= CACHE_MAX) claimed.clear();
    claimed.set(patId, now);
    setImmediate(() => {
      void (async () => {
        if (await kv.setIfAbsent(touchKey(patId), '1', TOUCH_INTERVAL_SECONDS)) await store.touch(patId, clock.now());
      })().catch((err: Error) => logger.warn({ err: err.message, pat_id: patId }, 'pat last_used_at not written'));
    });
  }

  /** A live token, the scopes it has now (its own, narrowed to the owner's permissions), and whether it is an operator's. */
  async function inForce(secret: string, ip?: string): Promise<InForce | null> {
    const parsed = parsePat(secret);
    if (!parsed) return null;
    const pat = await rowOf(parsed, ip);
    if (!pat || pat.revoked_at || pat.expires_at <= clock.now()) return null;
    if (pat.org_id === null) {
      // An operator's token: the account must be an operator now (read on every use, see below).
      const [revoked, operator] = await Promise.all([sessions.isRevoked(pat.id), deps.store.isOperator(pat.user_id)]);
      if (revoked) return null;
      return { pat, scopes: operator ? pat.scopes : [], operator };
    }
    const [revoked, grant] = await Promise.all([sessions.isRevoked(pat.id), grantFor(pat)]);
    if (revoked || !grant) return null;
    const held = new Set(grant.permissions);
    return { pat, scopes: pat.scopes.filter((s) => held.has(s)), operator: false };
  }

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

    /**
     * RFC 8693: a live org token for a 15-minute access token whose permissions are the token's
     * scopes that the owner still holds in the org. No refresh token: the PAT is the long-lived
     * credential. Every refusal is the same INVALID_GRANT.
     */
    async exchange(
      body: { subject_token: string; subject_token_type: string; requested_token_type?: string; scope?: string },
      context: RequestContext,
    ) {
      if (body.subject_token_type !== PAT_TOKEN_TYPE) {
        throw patError('UNSUPPORTED_TOKEN_TYPE', `subject_token_type must be ${PAT_TOKEN_TYPE}.`);
      }
      if (body.requested_token_type !== undefined && body.requested_token_type !== ACCESS_TOKEN_TYPE) {
        throw patError('UNSUPPORTED_TOKEN_TYPE', `requested_token_type can only be ${ACCESS_TOKEN_TYPE}.`);
      }
      const parsed = parsePat(body.subject_token);
      if (!parsed) throw invalidGrant();
      const pat = await rowOf(parsed, context.ip);
      const now = clock.now();
      // Operator tokens (no org) are for /v1/admin/* only.
      if (!pat || pat.revoked_at || pat.expires_at <= now || pat.org_id === null) throw invalidGrant();
      const seconds = clock.nowSeconds();
      const window = Math.floor(seconds / 60);
      const [isRevoked, count, grant] = await Promise.all([
        sessions.isRevoked(pat.id),
        kv.incr(rateKey(pat.id, window), 60),
        grantFor(pat),
      ]);
      if (isRevoked || !grant) throw invalidGrant();
      if (count > deps.exchangesPerMinute) {
        const retryAfter = Math.max(1, (window + 1) * 60 - seconds);
        throw requestError('RATE_LIMITED', `At most ${deps.exchangesPerMinute} exchanges a minute per token.`, { retry_after: retryAfter });
      }
      const claims = orgClaims(grant);
      // The token's scopes, or those asked for, which must all be the token's (RFC 8693 §2.1 scope).
      const requested = body.scope?.split(' ').filter((s) => s !== '');
      // RFC 6749 §3.3: a scope is one or more names; a blank one asks for nothing, which is no token.
      if (requested?.length === 0) throw tokenError('INVALID_SCOPE', 'scope names none of the token\u2019s scopes.', { missing: [] });
      const beyond = requested?.filter((s) => !pat.scopes.includes(s)) ?? [];
      if (beyond.length > 0) {
        throw tokenError('INVALID_SCOPE', `The token does not carry ${beyond.join(', ')}.`, { missing: beyond });
      }
      const scopes = new Set(requested ?? pat.scopes);
      const permissions = claims.permissions.filter((p) => scopes.has(p));
      const access = await deps.accessTokens.sign({
        sub: pat.user_id,
        sid: pat.id,
        pat_id: pat.id,
        org_id: pat.org_id,
        ...claims,
        // The token acts with its scopes, not as the member: no roles, the scopes the owner still holds.
        roles: [],
        permissions,
        amr: ['pat'],
        aal: 1,
      });
      touchLater(pat.id);
      return {
        access_token: access.token,
        issued_token_type: ACCESS_TOKEN_TYPE,
        token_type: 'Bearer' as const,
        expires_in: deps.accessTokens.ttl,
        scope: permissions.join(' '),
      };
    },

    /**
     * A service credential: a live token and the scopes it has now (an org token's narrowed to
     * the owner's permissions there; an operator token's ["admin"] while the account is an
     * operator, [] once it is not). Null for anything else. Every use is exact, as the exchange.
     */
    async credential(secret: string, ip: string): Promise<ServiceCredential | null> {
      const found = await inForce(secret, ip);
      if (!found) return null;
      touchLater(found.pat.id);
      return {
        patId: found.pat.id,
        userId: found.pat.user_id,
        orgId: found.pat.org_id,
        scopes: found.scopes,
        operator: found.operator,
        expiresAt: found.pat.expires_at,
      };
    },

    /** A live token by its secret, as introspection shows it (null: not live). */
    async lookup(secret: string): Promise<PatInfo | null> {
      const found = await inForce(secret);
      if (!found) return null;
      return {
        id: found.pat.id,
        userId: found.pat.user_id,
        orgId: found.pat.org_id,
        scopes: found.scopes,
        createdAt: found.pat.created_at,
        expiresAt: found.pat.expires_at,
      };
    },
  };
}

export type PatService = ReturnType<typeof createPatService>;
