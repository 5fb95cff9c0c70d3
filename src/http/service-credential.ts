import type { FastifyRequest } from 'fastify';
import { authError } from '../shared/common-errors.js';
import type { Authenticate } from './authenticate.js';

/**
 * A service credential: a live personal access token presented by a backend service or a script
 * (introspection, authorization checks, the operator routes). Made by the pats module's
 * `credential(secret)`; http only reads the header and checks the scope.
 */
export type ServiceCredential = {
  patId: string;
  /** The token's owner. */
  userId: string;
  /** The org the token belongs to; null for an operator token. */
  orgId: string | null;
  /**
   * The scopes in force now: an org token's own scopes that its owner still holds in the org;
   * an operator token's ["admin"] while its owner is an operator (else []).
   */
  scopes: readonly string[];
  /** An operator token whose owner is an operator now (`users.is_operator`, read on every use). */
  operator: boolean;
  expiresAt: Date;
};

declare module 'fastify' {
  interface FastifyRequest {
    service?: ServiceCredential;
  }
}

/** The operators' scope: /v1/admin/*; it also covers every other service scope. */
export const ADMIN_SCOPE = 'admin';

/** What a route behind `requireService` may answer (beyond its own codes). */
export const SERVICE_ROUTE_CODES = ['AUTHENTICATION_REQUIRED', 'INVALID_TOKEN', 'PERMISSION_DENIED', 'RATE_LIMITED'] as const;

/**
 * A live token by its secret (format and checksum first, no lookup for a malformed one), or null.
 * `ip`: the client's address, whose unknown secrets are throttled (429 RATE_LIMITED).
 */
export type ServiceCredentialCheck = (secret: string, ip: string) => Promise<ServiceCredential | null>;

/**
 * The secret of `Authorization: Bearer <pat>` or `Authorization: Basic base64(<anything>:<pat>)`
 * (RFC 7662 §2.1 lets a protected resource authenticate either way). undefined: no Authorization
 * header; null: one that is neither.
 */
export function serviceSecretOf(request: FastifyRequest): string | null | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header === '') return undefined;
  const bearer = /^Bearer\s+(\S+)$/i.exec(header);
  if (bearer) return bearer[1]!;
  const basic = /^Basic\s+([A-Za-z0-9+/]+={0,2})$/i.exec(header);
  if (!basic) return null;
  const decoded = Buffer.from(basic[1]!, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon < 0 ? null : decoded.slice(colon + 1);
}

/** Whether the credential carries the scope: `admin` only for an operator now; an operator's admin covers any other. */
export function hasServiceScope(credential: ServiceCredential, scope: string): boolean {
  const admin = credential.operator && credential.scopes.includes(ADMIN_SCOPE);
  return scope === ADMIN_SCOPE ? admin : admin || credential.scopes.includes(scope);
}

/**
 * `preHandler: kit.requireService('tokens:introspect')`: a service credential with the scope. 401
 * AUTHENTICATION_REQUIRED without one, 401 INVALID_TOKEN for anything but a live token (both with
 * WWW-Authenticate), 403 PERMISSION_DENIED without the scope. Sets `request.service`.
 */
export function createRequireService(check: ServiceCredentialCheck) {
  return (scope: string) =>
    async function serviceGuard(request: FastifyRequest) {
      const secret = serviceSecretOf(request);
      if (secret === undefined) {
        throw authError(
          'AUTHENTICATION_REQUIRED',
          'This endpoint needs a service credential: a personal access token as the Bearer token or as the password of HTTP Basic.',
        );
      }
      const credential = secret === null ? null : await check(secret, request.ip);
      if (!credential) throw authError('INVALID_TOKEN', 'The service credential is invalid, expired or revoked.');
      if (!hasServiceScope(credential, scope)) {
        throw authError('PERMISSION_DENIED', `This needs a credential with the scope ${scope}.`, { missing: [scope] });
      }
      request.service = credential;
    };
}

export type RequireService = ReturnType<typeof createRequireService>;

/** For handlers behind `requireService`: the guard guarantees the credential is set. */
export function serviceOf(request: FastifyRequest): ServiceCredential {
  if (!request.service) throw authError('AUTHENTICATION_REQUIRED');
  return request.service;
}

/**
 * Access tokens exchanged from a personal access token (they carry `pat_id`) are for the
 * services that trust Tessera, with the token's scopes. Tessera's own account and organization
 * routes act with the member's full access (the org guard reads it fresh), so they take a
 * session's token: an exchanged one is refused there (401 INVALID_TOKEN, after the revocation
 * checks, so a revoked or stale one still says so), except on the routes named (`GET /v1/me`).
 */
export function refusingPatTokens(
  authenticate: Authenticate,
  allowed: ReadonlyArray<readonly [method: string, url: string]>,
): Authenticate {
  return async function authenticateSessionToken(request, reply) {
    await authenticate(request, reply);
    if (request.principal?.claims.pat_id === undefined) return;
    if (allowed.some(([method, url]) => request.method === method && request.routeOptions.url === url)) return;
    throw authError(
      'INVALID_TOKEN',
      'An access token exchanged from a personal access token is for your services; this route takes a session\u2019s token.',
    );
  };
}
