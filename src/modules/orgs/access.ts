import type { Clock } from '../../infra/clock.js';
import type { OrgPlan } from '../../infra/db/schema.js';
import { isPermission, type Permission } from '../../shared/permissions.js';
import { aalAllowed, graceEndsAt, hasFactorRules, meetsPolicy, policyOf, type SecurityPolicy } from './policy.js';
import { OWNER_ROLE } from './presets.js';
import type { AccessRow, OrgStore } from './store.js';
import type { Executor } from '../../infra/db/unit-of-work.js';
import { orgError } from './errors.js';
import type { OrgGrant } from '../sessions/index.js';

/** What a user may do in an org, as a member or as an actor of the agency that manages it. */
export type OrgAccess = {
  orgId: string;
  plan: OrgPlan;
  roles: string[];
  permissions: Permission[];
  isOwner: boolean;
  /** The agency the user acts through (RFC 8693 `act`), or null for a member. */
  agencyId: string | null;
  policy: SecurityPolicy;
  /** The end of this user's grace period for the policy's second-factor rules. */
  graceEndsAt: Date;
  graceOver: boolean;
  /** Their last role change: tokens for the org are issued no earlier. */
  notBefore: Date;
};

/** Who acts in an org: their access to it and who they are. */
export type Actor = OrgAccess & { userId: string };

const unionOf = (rows: AccessRow[]) => [...new Set(rows.flatMap((r) => r.permissions ?? []))].filter(isPermission).sort() as Permission[];

/**
 * Resolves access (one statement for a member; a second only for a non-member, to look for an
 * agency) and turns it into the claims of an access token. Every org decision starts here, so
 * Tessera's routes, its tokens and the authorization endpoint read the same thing.
 */
/** How long a member's access may be served from memory (validated against the KV not-before marks on every use). */
const CACHE_TTL_MS = 30_000;
const CACHE_MAX = 20_000;
export const ORGS_CHANNEL = 'tessera:orgs';

export function createOrgAccess({
  store,
  clock,
  memberNotBefore,
  factorKinds,
}: {
  store: OrgStore;
  clock: Clock;
  /** The member's not-before mark (seconds) in the KV store: sessions publishes it on every role change and removal. */
  memberNotBefore: (orgId: string, userId: string) => Promise<number | null>;
  /** The kinds of second factor the account has enrolled now (mfa owns them). */
  factorKinds: (userId: string) => Promise<string[]>;
}) {
  // Token issue (refresh) reads a member's access from here: a KV read instead of a Postgres query.
  // Exact: an entry is used only while the member's not-before mark is no newer than the role
  // change it was read after (a change, a removal or an edit of a role they hold publishes a newer
  // one). What has no mark (the policy, the plan) is dropped on the orgs channel's message, and
  // anyway after 30 s.
  const cache = new Map<string, { access: OrgAccess; at: number }>();
  function access(orgId: string, rows: AccessRow[], agencyId: string | null, permissions: Permission[], roles: string[]): OrgAccess {
    const first = rows[0]!;
    const policy = policyOf(first.security_policy);
    const ends = graceEndsAt(policy, first.mfa_required_since, first.joined_at);
    return {
      orgId,
      plan: first.plan,
      roles,
      permissions,
      isOwner: roles.includes(OWNER_ROLE),
      agencyId,
      policy,
      graceEndsAt: ends,
      graceOver: clock.now() >= ends,
      notBefore: first.roles_changed_at,
    };
  }

  /** On the caller's transaction when given one (a transaction never waits on a second connection of the pool). */
  async function resolve(userId: string, orgId: string, ex?: Executor): Promise<OrgAccess | null> {
    const rows = await store.memberAccess(orgId, userId, ex);
    if (rows.length > 0) {
      const roles = rows.flatMap((r) => (r.key ? [r.key] : [])).sort();
      return access(orgId, rows, null, unionOf(rows), roles);
    }
    // Not a member: an agency actor (clients:manage in the agency that manages the org) acts with the agency's grant.
    const agencyRows = await store.agencyAccess(orgId, userId, ex);
    if (agencyRows.length === 0 || !unionOf(agencyRows).includes('clients:manage')) return null;
    const granted = agencyRows[0]!.agency_permissions.filter(isPermission).sort() as Permission[];
    return access(orgId, agencyRows, agencyRows[0]!.agency_id, granted, []);
  }

  async function resolveForToken(userId: string, orgId: string): Promise<OrgAccess | null> {
    const key = `${orgId}:${userId}`;
    const now = clock.now();
    const hit = cache.get(key);
    if (hit && now.getTime() - hit.at < CACHE_TTL_MS) {
      const mark = await memberNotBefore(orgId, userId);
      if (mark === null || mark <= Math.ceil(hit.access.notBefore.getTime() / 1000)) {
        return { ...hit.access, graceOver: now >= hit.access.graceEndsAt };
      }
    }
    const found = await resolve(userId, orgId);
    cache.delete(key);
    // Members only: an agency actor's access also hangs on the agency's marks, and is read fresh.
    if (found && found.agencyId === null) {
      if (cache.size >= CACHE_MAX) cache.delete(cache.keys().next().value!);
      cache.set(key, { access: found, at: now.getTime() });
    }
    return found;
  }

  return {
    resolve,

    /** The org's settings changed (policy, plan): drop what is remembered of its members. */
    forgetOrg(orgId: string) {
      for (const key of cache.keys()) if (key.startsWith(`${orgId}:`)) cache.delete(key);
    },

    /** The claims of a session's tokens for the org, or the refusal (not a member; the policy wants a second factor). */
    async grant(input: { userId: string; orgId: string; aal: number; method: string | null }): Promise<OrgGrant> {
      const found = await resolveForToken(input.userId, input.orgId);
      if (!found) throw orgError('ORG_ACCESS_DENIED', 'You are not a member of that organization.');
      return grantOf(found, input.aal, input.method);
    },

    /**
     * The claims of a personal access token's access tokens. A PAT proves no factor when it is
     * used (it was made after a recent authentication), so an org with a factor policy takes it
     * while its owner meets the policy now (an allowed factor enrolled; read fresh, the one query
     * of a use, and only in such orgs). An owner out of policy past the grace period (a policy
     * tightened after the token was made) is refused, as their sessions are.
     */
    async serviceGrant(input: { userId: string; orgId: string }): Promise<OrgGrant> {
      const found = await resolveForToken(input.userId, input.orgId);
      if (!found) throw orgError('ORG_ACCESS_DENIED', 'You are not a member of that organization.');
      if (found.graceOver && hasFactorRules(found.policy) && !meetsPolicy(found.policy, await factorKinds(input.userId))) {
        throw orgError(
          'ORG_MFA_REQUIRED',
          'This organization\u2019s security policy wants a second factor the token\u2019s owner has not set up.',
        );
      }
      return grantOf(found, 2, null);
    },
  };
}

/**
 * Checks the session against the policy (its aal, and the factor that proved it: `method`, null
 * for the password alone) and returns the token claims.
 */
export function grantOf(access: OrgAccess, aal: number, method: string | null): OrgGrant {
  if (!aalAllowed(access.policy, aal, access.graceOver)) {
    throw orgError('ORG_MFA_REQUIRED', 'This organization requires two-step authentication: sign in again with a second factor.');
  }
  if (method !== null && access.graceOver && !(access.policy.allowed_factors as string[]).includes(method)) {
    throw orgError(
      'ORG_FACTOR_NOT_ALLOWED',
      `This organization does not accept sessions proved with ${method}: sign in with an allowed factor.`,
      {
        methods: access.policy.allowed_factors,
      },
    );
  }
  return {
    roles: access.roles,
    permissions: access.permissions,
    ...(access.agencyId ? { act: { org_id: access.agencyId } } : {}),
    plan: access.plan,
    notBefore: access.notBefore,
    limits: { absoluteTtl: access.policy.session_absolute_ttl, idleTtl: access.policy.session_idle_ttl },
  };
}

export type OrgAccessResolver = ReturnType<typeof createOrgAccess>;
