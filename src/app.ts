import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import type { Db } from './infra/db/connect.js';
import { createUnitOfWork } from './infra/db/unit-of-work.js';
import type { KeyValueStore } from './infra/kv/kv.js';
import type { Mailer } from './infra/mailer.js';
import type { Keyring } from './infra/keyring.js';
import type { Logger } from './infra/logger.js';
import { smsSenderFromConfig, type SmsSender } from './infra/sms/index.js';
import { systemClock, type Clock } from './infra/clock.js';
import { registerProblemHandlers } from './http/problem.js';
import { createAuthenticate } from './http/authenticate.js';
import { bearerAuthenticator } from './http/authenticators/bearer.js';
import { cookieAuthenticator } from './http/authenticators/cookie.js';
import type { AccessTokenChecks } from './http/authenticators/access-token.js';
import { createCsrf } from './http/cookies.js';
import { createMetrics, createMetricsServer } from './http/metrics.js';
import { registerJsonParser } from './http/body.js';
import { registerResponseHeaders } from './http/response-headers.js';
import { serverTimeoutOptions } from './http/server-options.js';
import { kvRateLimitStore } from './http/rate-limit-store.js';
import { createPrincipalRateLimit, RATE_LIMIT_HEADERS } from './http/org-rate-limit.js';
import { opsRoutes } from './http/ops-routes.js';
import type { RouteKit } from './http/types.js';
import { createAuditModule } from './modules/audit/index.js';
import { createTokensModule } from './modules/tokens/index.js';
import { createSessionsModule } from './modules/sessions/index.js';
import { createAccountsModule } from './modules/accounts/index.js';
import { createLoginModule } from './modules/login/index.js';
import { createMfaModule } from './modules/mfa/index.js';
import { createOrgsModule } from './modules/orgs/index.js';
import { createPatsModule } from './modules/pats/index.js';
import { createAdminModule } from './modules/admin/index.js';
import { createIntrospectionModule } from './modules/introspection/index.js';
import { createRequireService, refusingPatTokens } from './http/service-credential.js';
import { authOf } from './http/principal.js';

export type AppDeps = {
  db: Db;
  kv: KeyValueStore;
  mailer: Mailer;
  keyring: Keyring;
  logger: Logger;
  /** Text messages; left out, the configuration decides (SMS_URL, SMS_TO_LOG). null: none. */
  sms?: SmsSender | null;
  clock?: Clock;
  /** Strict error contract: a code a route did not declare answers 500 (the tests turn this on). */
  strict?: boolean;
};

function createServer(config: Config, logger: Logger) {
  const app = Fastify({
    // pino's Logger is a FastifyBaseLogger; the cast keeps the instance type the plain one.
    loggerInstance: logger as unknown as FastifyBaseLogger,
    bodyLimit: config.bodyLimit,
    // Fastify takes a hop count at run time (proxy-addr), though its types omit it.
    trustProxy: config.trustProxy as boolean | string[],
    // Honour a caller's request id when it looks like one, so logs join up across services.
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[A-Za-z0-9._-]{8,64}$/.test(given) ? given : randomUUID();
    },
    requestIdHeader: false,
    forceCloseConnections: 'idle',
    ...serverTimeoutOptions(config.timeouts),
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<ZodTypeProvider>();
  registerResponseHeaders(app);
  registerJsonParser(app);
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });
  return app;
}

/**
 * The composition root: every module, what it is given, and the order routes are registered in.
 * A new feature is a folder under modules/ and a few lines here. Returns the modules beside the
 * app for the test builder; production code uses buildApp.
 */
export async function composeApp(config: Config, deps: AppDeps) {
  const { db, kv, mailer, keyring, logger } = deps;
  const clock = deps.clock ?? systemClock;
  const withTransaction = createUnitOfWork(db);

  const app = createServer(config, logger);
  const metrics = createMetrics();
  metrics.hook(app);
  registerProblemHandlers(app, { strict: deps.strict ?? false });
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: { title: 'Tessera', version: '1', description: 'Headless identity service' },
      components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer', bearerFormat: 'JWT' } } },
    },
    transform: jsonSchemaTransform,
  });
  await app.register(cookie);
  await app.register(cors, {
    origin: config.corsOrigins,
    credentials: true,
    methods: ['GET', 'POST', 'PATCH', 'DELETE'],
    allowedHeaders: ['authorization', 'content-type', 'x-csrf-token', 'x-request-id'],
    exposedHeaders: ['x-request-id', 'retry-after', ...RATE_LIMIT_HEADERS],
    maxAge: 600,
  });
  await app.register(rateLimit, { global: false, store: kvRateLimitStore(kv, clock) });

  // Modules, each after what it depends on.
  const audit = createAuditModule({ db, clock, logger });
  const tokens = await createTokensModule({
    db,
    withTransaction,
    keyring,
    clock,
    alg: config.jwtAlg,
    issuer: config.issuer,
    audience: config.audience,
    publicUrl: config.publicUrl,
    accessTokenTtl: config.accessTokenTtl,
  });
  const sessions = await createSessionsModule({
    db,
    kv,
    clock,
    logger,
    audit: audit.service,
    tokens,
    // Accounts is built next and depends on sessions; the sessions table only asks it at request time.
    userEmail: (userId) => accounts.service.emailOf(userId),
    // Orgs is built later and depends on sessions; a session's org claims are asked for at issue time.
    orgGrants: (input) => orgs.access.grant(input),
    accessTokenTtl: config.accessTokenTtl,
    refreshTokenTtl: config.refreshTokenTtl,
    reuseGraceSeconds: config.refreshReuseGraceSeconds,
  });
  const accounts = createAccountsModule({
    db,
    withTransaction,
    kv,
    mailer,
    clock,
    logger,
    audit: audit.service,
    sessions: sessions.service,
    argon2: config.argon2,
    throttle: config.loginThrottle,
    deviceSecrets: keyring.deriveSecrets('tessera/known-device/v1'),
    links: config.appLinks,
    mailPerAddressPerHour: config.mailPerAddressPerHour,
    requireEmailVerification: config.requireEmailVerification,
    // Mfa is built next and depends on accounts; the profile only asks it at request time.
    mfaSummary: (userId) => mfa.service.summary(userId),
    credentialChanged: (userId) => mfa.credentialChanged(userId),
    // Orgs depends on accounts; it may refuse a deletion (the last Owner of an org).
    // Then personal access tokens (built after orgs) revoke all of the account's.
    beforeDeletion: async (userId, tx, context) => {
      await orgs.service.beforeAccountDeletion(userId, tx, context);
      await pats.service.accountDeleted(userId, tx, context);
    },
  });
  const mfa = createMfaModule({
    db,
    withTransaction,
    kv,
    keyring,
    mailer,
    clock,
    logger,
    audit: audit.service,
    sessions: sessions.service,
    accounts: accounts.service,
    issuer: config.mfa.issuer,
    failureBudget: config.mfa.failureBudget,
    sms: {
      sender: deps.sms === undefined ? smsSenderFromConfig(config.sms, logger) : deps.sms,
      perUserPerHour: config.sms.perUserPerHour,
      perNumberPerHour: config.sms.perNumberPerHour,
      brand: config.mfa.issuer,
      appHost: new URL(config.appLinks.appUrl).hostname,
    },
    webauthn: config.webauthn,
    // Orgs is built next and depends on mfa; removing a factor asks it at request time.
    factorRequired: (userId, kinds, tx) => orgs.service.factorRequired(userId, kinds, tx),
  });
  const orgs = await createOrgsModule({
    db,
    withTransaction,
    kv,
    logger,
    clock,
    audit: audit.service,
    sessions: sessions.service,
    mailer,
    links: config.appLinks,
    invitationTtlDays: config.invitationTtlDays,
    accounts: accounts.service,
    people: {
      peopleOf: (ids) => accounts.service.peopleOf(ids),
      factorKindsOf: (ids) => mfa.service.factorKindsOf(ids),
    },
    // Personal access tokens are built next and depend on orgs; a member's leave (or an admin's sign-out) revokes theirs of the org.
    revokeMemberTokens: (input, tx) => pats.service.revokeMemberTokens(input, tx),
  });
  const pats = createPatsModule({
    db,
    withTransaction,
    kv,
    clock,
    logger,
    audit: audit.service,
    sessions: sessions.service,
    tokens,
    orgs,
    lockAccount: (userId, tx) => accounts.service.lockAccount(userId, tx),
    exchangesPerMinute: config.pats.exchangesPerMinute,
    lookupMissesPerMinute: config.pats.lookupMissesPerMinute,
  });
  const login = createLoginModule({
    accounts: accounts.service,
    sessions: sessions.service,
    mfa: mfa.service,
    orgs: orgs.service,
    passkeys: mfa.factors.webauthn.passkeys,
    audit: audit.service,
    onOutcome: (outcome) => metrics.logins.inc({ outcome }),
  });

  // Who is calling: the first authenticator that recognises the request decides.
  const accessTokenChecks: AccessTokenChecks = {
    verify: (token) => tokens.accessTokens.verify(token),
    revocation: (claims) => sessions.service.tokenRevocation(claims),
  };
  // CSRF secrets come from the keyring so every instance accepts every other's tokens.
  const csrf = createCsrf(keyring.deriveSecrets('tessera/csrf/v1'));
  const principalRateLimit = config.rateLimit.enabled
    ? createPrincipalRateLimit(app, { perPlan: config.rateLimit.perPlanPerMinute, perUser: config.rateLimit.userPerMinute })
    : undefined;
  const kit: RouteKit = {
    authenticate: createAuthenticate(
      [bearerAuthenticator(accessTokenChecks), cookieAuthenticator(accessTokenChecks, csrf, config.cookieSecure)],
      // Authenticated requests count against the org's budget (by its plan), or the user's without an org.
      { rateLimit: principalRateLimit },
    ),
    requireRecentAuth: async (request) => {
      const { userId, sessionId } = authOf(request);
      await mfa.service.assertRecentAuth(userId, sessionId);
    },
    // Service credentials: a personal access token with the scope (introspection, authorization checks, /v1/admin/*).
    requireService: createRequireService((secret, ip) => pats.credential(secret, ip)),
    csrf,
    cookieSecure: config.cookieSecure,
    publicRateLimit: { max: config.publicRateLimitPerMinute, timeWindow: 60_000 },
    bodyLimit: config.bodyLimit,
    strict: deps.strict ?? false,
  };

  // Access tokens exchanged from a personal access token are for services: Tessera's own routes
  // (which act with the member's full access) refuse them, but for GET /v1/me.
  kit.authenticate = refusingPatTokens(kit.authenticate, [['GET', '/v1/me']]);
  const admin = createAdminModule({
    audit: audit.service,
    sessions: sessions.service,
    accounts: accounts.service,
    orgs,
    keys: tokens.keys,
    revokeAllTokens: (userId, actorId, reason, context) => pats.service.revokeAllOf(userId, actorId, reason, context),
  });

  // Introspection and authorization checks for services: the same checks as Tessera's own authenticator.
  const introspection = createIntrospectionModule({
    clock,
    verify: (token) => tokens.accessTokens.verify(token),
    revocation: (claims) => sessions.service.tokenRevocation(claims),
    pat: (secret) => pats.lookup(secret),
    permissionsIn: async (userId, orgId) => (await orgs.access.resolve(userId, orgId))?.permissions ?? null,
  });
  tokens.service.advertise(introspection.discovery);

  opsRoutes(app, { db, kv, metrics, metricsAccess: config.metrics });
  for (const module of [tokens, login, sessions, accounts, mfa, orgs, pats, admin, introspection, audit]) await module.routes(app, kit);
  app.addHook('onClose', async () => tokens.keys.stop());
  app.addHook('onClose', async () => orgs.close());
  // Detached audit events still queued are written before the pools close.
  app.addHook('onClose', async () => audit.service.drain());
  // METRICS_PORT: a listener of its own, which main.ts opens; it closes with the app.
  const metricsApp =
    config.metrics.port === undefined
      ? undefined
      : await createMetricsServer(metrics, { token: config.metrics.token, logger: app.log, timeouts: config.timeouts });
  if (metricsApp) app.addHook('onClose', async () => metricsApp.close());
  await app.ready();

  return {
    app,
    metricsApp,
    modules: { audit, tokens, sessions, accounts, mfa, orgs, login, pats, admin, introspection },
  };
}

export async function buildApp(config: Config, deps: AppDeps) {
  return (await composeApp(config, deps)).app;
}

export type TesseraApp = Awaited<ReturnType<typeof buildApp>>;
export type Modules = Awaited<ReturnType<typeof composeApp>>['modules'];
