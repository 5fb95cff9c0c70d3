import type { z } from 'zod';
import type { RequestContext } from '../../shared/context.js';

/**
 * A way to obtain tokens at POST /v1/token, contributed by the module that owns the credential:
 * sessions the refresh_token grant, personal access tokens the token-exchange grant. The schema
 * is a strict object whose `grant_type` is the literal `type`.
 */
export type Grant<S extends z.ZodObject = z.ZodObject, R = unknown> = {
  type: string;
  schema: S;
  /** The success body's schema (the token endpoint answers the union of its grants' responses). */
  response: z.ZodType<R>;
  /** The error codes exchange may throw, declared on the token endpoint. */
  errors: string[];
  /** RFC 8693 subject token types the grant takes, listed in the discovery document. */
  subjectTokenTypes?: string[];
  exchange(body: z.output<S>, context: RequestContext): Promise<R>;
};

export function createGrantRegistry() {
  const grants = new Map<string, Grant>();
  return {
    register<S extends z.ZodObject, R>(grant: Grant<S, R>) {
      if (grants.has(grant.type)) throw new Error(`grant ${grant.type} is registered twice`);
      grants.set(grant.type, grant as unknown as Grant);
    },
    get: (type: string): Grant | undefined => grants.get(type),
    types: () => [...grants.keys()],
    subjectTokenTypes: () => [...grants.values()].flatMap((g) => g.subjectTokenTypes ?? []),
    all: () => [...grants.values()],
    /** Body schemas: every registered grant's (refresh_token from sessions, token exchange from pats). */
    bodySchemas(): z.ZodObject[] {
      return [...grants.values()].map((g) => g.schema);
    },
  };
}

export type GrantRegistry = ReturnType<typeof createGrantRegistry>;
