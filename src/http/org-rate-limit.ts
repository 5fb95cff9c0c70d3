import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { requestError } from '../shared/common-errors.js';
import type { Principal } from './principal.js';

/** The plans an org can be on, as access tokens name them (`plan` claim). */
export type Plan = 'starter' | 'professional' | 'enterprise';

export type OrgRateLimitSettings = {
  /** Requests per window for a token with an org, by the token's `plan` claim. */
  perPlan: Record<Plan, number>;
  /** Requests per window for a token without an org, per user. */
  perUser: number;
  /** The window, in milliseconds (one minute unless a test says otherwise). */
  windowMs?: number;
};

/** Runs once a principal is known: counts the request, sets the RateLimit-* headers, throws 429 RATE_LIMITED past the limit. */
export type PrincipalRateLimit = (request: FastifyRequest, reply: FastifyReply) => Promise<void>;

// Draft IETF RateLimit header fields (draft-ietf-httpapi-ratelimit-headers), as the plugin's enableDraftSpec names them.
export const RATE_LIMIT_HEADERS = ['ratelimit-limit', 'ratelimit-remaining', 'ratelimit-reset'] as const;

/** Whose budget a request is counted against: the token's org, or the user when the token has none. */
export function budgetKey(principal: Principal): string {
  return principal.orgId ? `org:${principal.orgId}` : `user:${principal.userId}`;
}

/**
 * The limit for a principal. A token with an org and no plan it knows (one issued before tokens
 * carried the plan) gets the starter limit: a plan is only ever raised by the next token.
 */
export function limitFor(principal: Principal, settings: OrgRateLimitSettings): number {
  if (!principal.orgId) return settings.perUser;
  const plan = principal.claims.plan;
  return plan !== undefined && Object.hasOwn(settings.perPlan, plan) ? settings.perPlan[plan as Plan] : settings.perPlan.starter;
}

/**
 * The per-org limit of authenticated requests, on @fastify/rate-limit (registered on `app`, with
 * the KV store): one counter per org (or user) per window, whatever the route, shared by every
 * instance through Redis. `createRateLimit` rather than `rateLimit()`: the hook `rateLimit()`
 * returns names its headers X-RateLimit-* (the spelling is fixed when the plugin is registered,
 * and the public routes keep theirs) and shares the plugin's once-per-request mark with the
 * public per-IP limit; here the headers are the draft's RateLimit-* and the 429 is Tessera's
 * problem (RATE_LIMITED, `retry_after`, from which the problem handler sets Retry-After).
 */
export function createPrincipalRateLimit(app: FastifyInstance, settings: OrgRateLimitSettings): PrincipalRateLimit {
  const principalOf = (request: FastifyRequest) => {
    if (!request.principal) throw new Error('the principal rate limit runs after authentication');
    return request.principal;
  };
  const check = app.createRateLimit({
    keyGenerator: (request) => budgetKey(principalOf(request)),
    max: (request) => limitFor(principalOf(request), settings),
    timeWindow: settings.windowMs ?? 60_000,
  });
  // A request is counted once, however many times a guard authenticates it.
  const counted = new WeakSet<FastifyRequest>();

  return async function principalRateLimit(request, reply) {
    if (counted.has(request)) return;
    counted.add(request);
    const limit = await check(request);
    if (limit.isAllowed) return;
    reply.header('ratelimit-limit', limit.max);
    reply.header('ratelimit-remaining', limit.remaining);
    reply.header('ratelimit-reset', limit.ttlInSeconds);
    if (limit.isExceeded) {
      const per = limit.timeWindow === 60_000 ? 'a minute' : `in ${limit.timeWindow / 1000} s`;
      throw requestError('RATE_LIMITED', `Over the limit of ${limit.max} requests ${per}: retry after the time in Retry-After.`, {
        retry_after: limit.ttlInSeconds,
      });
    }
  };
}
