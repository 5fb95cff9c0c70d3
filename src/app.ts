import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger } from 'fastify';
import cookie from '@fastify/cookie';
import cors from '@fastify/cors';
import formbody from '@fastify/formbody';
import rateLimit from '@fastify/rate-limit';
import swagger from '@fastify/swagger';
import { jsonSchemaTransform, serializerCompiler, validatorCompiler, type ZodTypeProvider } from 'fastify-type-provider-zod';
import type { Config } from './config.js';
import type { Db } from './infra/db/connect.js';
import type { KeyValueStore } from './infra/kv/kv.js';
import type { Mailer } from './infra/mailer.js';
import type { Keyring } from './infra/keyring.js';
import type { Logger } from './infra/logger.js';
import { systemClock, type Clock } from './infra/clock.js';
import { registerProblemHandlers } from './http/problem.js';
import { createAuthenticate } from './http/authenticate.js';
import { createCsrf } from './http/cookies.js';
import { createMetrics } from './http/metrics.js';
import { kvRateLimitStore } from './http/rate-limit-store.js';
import { opsRoutes } from './http/ops-routes.js';
import { createAuditStore } from './modules/audit/store.js';
import { createAuditService } from './modules/audit/service.js';
import { createSigningKeyStore } from './modules/tokens/keys.store.js';
import { createKeyService } from './modules/tokens/keys.service.js';
import { createAccessTokens } from './modules/tokens/access-token.js';
import { tokenRoutes } from './modules/tokens/routes.js';
import { createSessionStore } from './modules/sessions/store.js';
import { createRevocations } from './modules/sessions/revocations.js';
import { createSessionService } from './modules/sessions/service.js';
import { createLoginThrottle } from './modules/sessions/login-throttle.js';
import { createLoginService } from './modules/sessions/login.service.js';
import { sessionRoutes } from './modules/sessions/routes.js';
import { createAccountStore } from './modules/accounts/store.js';
import { createPasswordHasher } from './modules/accounts/password-hasher.js';
import { createAccountService } from './modules/accounts/service.js';
import { accountRoutes } from './modules/accounts/routes.js';
import { auditRoutes } from './modules/audit/routes.js';

export type AppDeps = {
  db: Db;
  kv: KeyValueStore;
  mailer: Mailer;
  keyring: Keyring;
  logger: Logger;
  clock?: Clock;
};

/** The composition root: wires stores, services and routes. Tests build it the same way. */
export async function buildApp(config: Config, deps: AppDeps) {
  const { db, kv, mailer, keyring, logger } = deps;
  const clock = deps.clock ?? systemClock;

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
    ajv: { customOptions: { removeAdditional: false } },
  }).withTypeProvider<ZodTypeProvider>();
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  app.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
  });

  const metrics = createMetrics();
  metrics.hook(app);
  registerProblemHandlers(app);

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
    exposedHeaders: ['x-request-id', 'retry-after'],
    maxAge: 600,
  });
  await app.register(rateLimit, { global: false, store: kvRateLimitStore(kv) });

  // Stores and services.
  const audit = createAuditService({ store: createAuditStore(db), clock, logger });
  const keys = createKeyService({
    store: createSigningKeyStore(db),
    keyring,
    clock,
    alg: config.jwtAlg,
    accessTokenTtl: config.accessTokenTtl,
  });
  await keys.init();
  const accessTokens = createAccessTokens({ keys, clock, issuer: config.issuer, audience: config.audience, ttl: config.accessTokenTtl });
  const sessionStore = createSessionStore(db);
  const revocations = createRevocations({
    kv,
    clock,
    logger,
    accessTokenTtl: config.accessTokenTtl,
    revokedSince: (since) => sessionStore.revokedSince(since),
  });
  // Postgres is the source of truth: whatever the KV store lost is restored on start and reconnect.
  await revocations.reload();
  revocations.watchReconnects();
  const sessions = createSessionService({
    store: sessionStore,
    accessTokens,
    revocations,
    audit,
    clock,
    refreshTokenTtl: config.refreshTokenTtl,
    reuseGraceSeconds: config.refreshReuseGraceSeconds,
  });
  const hasher = createPasswordHasher(config.argon2);
  const throttle = createLoginThrottle(kv, config.loginThrottle);
  const accounts = createAccountService({
    store: createAccountStore(db),
    throttle,
    hasher,
    mailer,
    audit,
    sessions,
    clock,
    logger,
    publicUrl: config.publicUrl,
    requireEmailVerification: config.requireEmailVerification,
  });
  const login = createLoginService({
    accounts,
    sessions,
    throttle,
    audit,
    requireEmailVerification: config.requireEmailVerification,
    onOutcome: (outcome) => metrics.logins.inc({ outcome }),
  });

  // CSRF secrets come from the keyring so every instance accepts every other's tokens.
  const csrf = createCsrf(keyring.deriveSecrets('tessera/csrf/v1'));
  const authenticate = createAuthenticate({ accessTokens, sessions, csrf });
  const publicRateLimit = { max: config.publicRateLimitPerMinute, timeWindow: 60_000 };

  opsRoutes(app, { db, kv, metrics });
  // Form bodies only where OAuth clients send them. Anywhere else a form is what a cross-site
  // <form> can post without a preflight (login CSRF), so it gets 415.
  await app.register(async (scope) => {
    await scope.register(formbody, { bodyLimit: config.bodyLimit });
    tokenRoutes(scope as unknown as typeof app, { sessions, keys, csrf, cookieSecure: config.cookieSecure, issuer: config.issuer, publicUrl: config.publicUrl });
  });
  sessionRoutes(app, { login, sessions, accounts, authenticate, csrf, cookieSecure: config.cookieSecure });
  accountRoutes(app, { accounts, authenticate, publicRateLimit });
  auditRoutes(app, { audit, authenticate });

  await app.ready();
  return Object.assign(app, { services: { accounts, sessions, keys, audit, accessTokens, revocations, hasher } });
}

export type TesseraApp = Awaited<ReturnType<typeof buildApp>>;
