import type { Authenticate } from './authenticate.js';
import type { Csrf } from './cookies.js';
import type { RequireService } from './service-credential.js';
import type {
  FastifyBaseLogger,
  FastifyInstance,
  FastifyRequest,
  RawReplyDefaultExpression,
  RawRequestDefaultExpression,
  RawServerDefault,
} from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';

export type App = FastifyInstance<
  RawServerDefault,
  RawRequestDefaultExpression,
  RawReplyDefaultExpression,
  FastifyBaseLogger,
  ZodTypeProvider
>;

/** What every module's routes get from the composition root: the guards and the HTTP settings. */
export type RouteKit = {
  authenticate: Authenticate;
  /**
   * Step-up, after `authenticate`: the session must have authenticated recently (aal2 within five
   * minutes, or the password for an account without a second factor), else 403 REAUTHENTICATION_REQUIRED.
   */
  requireRecentAuth: (request: FastifyRequest) => Promise<void>;
  /**
   * A service credential instead of a user's token (`requireService('tokens:introspect')`): a live
   * personal access token with the scope, as Bearer or as the Basic password; `admin` needs an
   * operator now. Sets `request.service` (see http/service-credential.ts).
   */
  requireService: RequireService;
  csrf: Csrf;
  cookieSecure: boolean;
  /** Per-IP limit for unauthenticated endpoints (@fastify/rate-limit route config). */
  publicRateLimit: { max: number; timeWindow: number };
  bodyLimit: number;
  /** Strict error contract (tests): undeclared error codes become 500s. */
  strict: boolean;
};

/** A module's HTTP surface, registered by the composition root. */
export type Routes = (app: App, kit: RouteKit) => void | Promise<void>;
