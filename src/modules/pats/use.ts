import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import type { Logger } from '../../infra/logger.js';
import type { ServiceCredential } from '../../http/service-credential.js';
import { requestError } from '../../shared/common-errors.js';
import { AppError } from '../../shared/errors.js';
import type { RequestContext } from '../../shared/context.js';
import { orgClaims, type OrgGrant, type SessionService } from '../sessions/index.js';
import type { AccessTokens } from '../tokens/index.js';
import { tokenError } from '../tokens/errors.js';
import { patError } from './errors.js';
import { parsePat, type ParsedPat } from './format.js';
import { createLookupThrottle } from './lookup-throttle.js';
import { hitThisMinute } from './minute-counter.js';
import { ACCESS_TOKEN_TYPE, PAT_TOKEN_TYPE } from './schemas.js';
import type { LivePat, PatStore } from './store.js';

/** A live personal access token as the introspection endpoint shows it (scopes: those in force now). */
export type PatInfo = { id: string; userId: string; orgId: string | null; scopes: string[]; createdAt: Date; expiresAt: Date };

/** What a use of a token (exchange, service credential) finds: the row, the scopes in force now, and whether it is an operator's. */
type InForce = { pat: LivePat; scopes: string[]; operator: boolean };

export type PatUseDeps = {
  store: Pick<PatStore, 'findByHash' | 'touch' | 'isOperator'>;
  kv: KeyValueStore;
  clock: Clock;
  logger: Logger;
  sessions: Pick<SessionService, 'isRevoked'>;
  accessTokens: AccessTokens;
  orgs: {
    /** The claims of a PAT's token for the org, from the orgs module's cache (exact: validated against the KV marks); refuses an owner out of policy. */
    grant: (input: { userId: string; orgId: string }) => Promise<OrgGrant>;
  };
  exchangesPerMinute: number;
  /** Unknown secrets (valid checksum, no token) a minute per client address before lookups are refused. */
  lookupMissesPerMinute: number;
};

/** How long a token's row is served from memory, and how many are kept (always behind the KV revocation mark). */
const CACHE_TTL_MS = 60_000;
const CACHE_MAX = 20_000;
/** last_used_at is written at most this often per token. */
const TOUCH_INTERVAL_SECONDS = 60;

const rateKey = (patId: string) => `tessera:{pat}:exchanges:${patId}`;
const touchKey = (patId: string) => `tessera:{pat}:used:${patId}`;

// One answer for every refusal: the caller learns nothing about which check failed.
const invalidGrant = () => tokenError('INVALID_GRANT', 'The subject token is invalid, expired or revoked.');

/**
 * Using personal access tokens: the token-exchange grant, and the service credentials other
 * endpoints authenticate with (and introspection's view of a PAT).
 *
 * A use touches no Postgres: the row comes from an in-process cache by the secret's hash (60 s),
 * trusted only after the token's revocation mark in the KV store says it is not revoked (a
 * revocation sets it from its commit on, on every instance, for longer than any cache entry
 * lives), and the owner's permissions come from the orgs module's exact cache. (In an org with a
 * factor policy, the owner's factors are read once a use: they meet it now, or not.)
 */
export function createPatUse(deps: PatUseDeps) {
  const { store, kv, clock, logger, sessions } = deps;
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

  return {
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
      const [isRevoked, hit, grant] = await Promise.all([
        sessions.isRevoked(pat.id),
        hitThisMinute(kv, clock, rateKey(pat.id)),
        grantFor(pat),
      ]);
      if (isRevoked || !grant) throw invalidGrant();
      if (hit.count > deps.exchangesPerMinute) {
        throw requestError('RATE_LIMITED', `At most ${deps.exchangesPerMinute} exchanges a minute per token.`, {
          retry_after: hit.retryAfter,
        });
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
