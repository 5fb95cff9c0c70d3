import type { z } from 'zod';
import type { RequestContext } from '../../shared/context.js';
import { tokenExchangeGrant } from './schemas.js';

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
  exchange(body: z.output<S>, context: RequestContext): Promise<R>;
};

/** Grant types in the contract that no module may serve yet: their body is accepted, the answer is UNSUPPORTED_GRANT_TYPE. */
const RESERVED = [tokenExchangeGrant];

export function createGrantRegistry() {
  const grants = new Map<string, Grant>();
  return {
    register<S extends z.ZodObject, R>(grant: Grant<S, R>) {
      if (grants.has(grant.type)) throw new Error(`grant ${grant.type} is registered twice`);
      grants.set(grant.type, grant as unknown as Grant);
    },
    get: (type: string): Grant | undefined => grants.get(type),
    types: () => [...grants.keys()],
    all: () => [...grants.values()],
    /** Body schemas: every registered grant, and the reserved ones no grant has claimed. */
    bodySchemas(): z.ZodObject[] {
      const reserved = RESERVED.filter((s) => !grants.has(s.shape.grant_type.value));
      return [...[...grants.values()].map((g) => g.schema), ...reserved];
    },
  };
}

export type GrantRegistry = ReturnType<typeof createGrantRegistry>;
