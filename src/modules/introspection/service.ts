import type { AccessTokenClaims } from '../../sdk/index.js';
import { PAT_TOKEN_TYPE } from '../pats/index.js';
import { hasPermissions, type Permission } from '../../shared/permissions.js';

/** Who asks: a service credential (a PAT with `tokens:introspect`, or an operator's). */
export type Caller = { userId: string; orgId: string | null; operator: boolean };

/** A PAT as introspection shows it. */
export type PatInfo = { id: string; userId: string; orgId: string | null; scopes: string[]; createdAt: Date; expiresAt: Date };

type Deps = {
  /** Signature and claims (cached); throws for anything but a good token. */
  verified: (token: string) => Promise<AccessTokenClaims>;
  /** The session, PAT and roles-version checks every authenticated request passes. */
  revocation: (claims: AccessTokenClaims) => Promise<'session' | 'stale' | null>;
  /** A live PAT by its secret (format and checksum first), or null. */
  pat: (secret: string) => Promise<PatInfo | null>;
  /** A user's permissions in an org now (null: no access). */
  permissionsIn: (userId: string, orgId: string) => Promise<string[] | null>;
};

const INACTIVE = { active: false } as const;

/**
 * RFC 7662 introspection and the authorization check for services. Anything that is not a live
 * token the caller may see is `{active: false}` and nothing else: invalid, expired, revoked,
 * stale, of another org.
 */
export function createIntrospection(deps: Deps) {
  /** An org-bound caller sees only its org's tokens; an operator sees all. */
  const visible = (caller: Caller, orgId: string | null | undefined) =>
    caller.operator || (caller.orgId !== null && caller.orgId === orgId);

  async function accessToken(token: string): Promise<AccessTokenClaims | null> {
    let claims: AccessTokenClaims;
    try {
      claims = await deps.verified(token);
    } catch {
      return null;
    }
    return (await deps.revocation(claims)) === null ? claims : null;
  }

  return {
    async introspect(caller: Caller, token: string) {
      if (token.startsWith('tsr_pat_')) {
        const pat = await deps.pat(token);
        if (!pat || !visible(caller, pat.orgId)) return INACTIVE;
        return {
          active: true as const,
          sub: pat.userId,
          org_id: pat.orgId,
          scope: pat.scopes.join(' '),
          iat: Math.floor(pat.createdAt.getTime() / 1000),
          exp: Math.floor(pat.expiresAt.getTime() / 1000),
          token_type: PAT_TOKEN_TYPE,
          pat_id: pat.id,
        };
      }
      const claims = await accessToken(token);
      if (!claims || !visible(caller, claims.org_id)) return INACTIVE;
      return {
        active: true as const,
        sub: claims.sub,
        sid: claims.sid,
        org_id: claims.org_id,
        roles: claims.roles,
        permissions: claims.permissions,
        scope: claims.permissions.join(' '),
        exp: claims.exp,
        iat: claims.iat,
        amr: claims.amr,
        aal: claims.aal,
        token_type: 'Bearer',
        client_id: claims.client_id ?? 'tessera',
        ...(claims.pat_id ? { pat_id: claims.pat_id } : {}),
        ...(claims.act ? { act: claims.act } : {}),
        ...(claims.plan ? { plan: claims.plan } : {}),
      };
    },

    /**
     * Does this token (or this user) hold these permissions in the org? By the same
     * `hasPermissions` as Tessera's own guard. A token that is not live, or of another org, holds
     * nothing; so does a user without access to the org.
     */
    async check(caller: Caller, input: { token?: string; userId?: string; orgId: string; permissions: Permission[] }) {
      const none = () => hasPermissions([], input.permissions);
      if (!visible(caller, input.orgId)) return none();
      let granted: readonly string[] | null = null;
      if (input.token !== undefined) {
        const claims = await accessToken(input.token);
        if (claims && claims.org_id === input.orgId && (input.userId === undefined || input.userId === claims.sub))
          granted = claims.permissions;
      } else if (input.userId !== undefined) {
        granted = await deps.permissionsIn(input.userId, input.orgId);
      }
      return granted ? hasPermissions(granted, input.permissions) : none();
    },
  };
}

export type Introspection = ReturnType<typeof createIntrospection>;
