import { randomBytes, randomUUID } from 'node:crypto';
import { Writable } from 'node:stream';
import type { Test } from 'tap';
import { composeApp, type Modules, type TesseraApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createKeyring } from '../../src/infra/keyring.js';
import { createLogger } from '../../src/infra/logger.js';
import { createMemoryKv } from '../../src/infra/kv/memory.js';
import { createRedisKv } from '../../src/infra/kv/redis.js';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryMailer } from '../../src/infra/mailer.js';
import { createMemorySmsSender, type SmsSender } from '../../src/infra/sms/index.js';
import type { Clock } from '../../src/infra/clock.js';
import type { Db } from '../../src/infra/db/connect.js';
import { createTestDatabase } from './db.js';
import { eventually } from './eventually.js';

export const TEST_KEYS = `test1:${Buffer.alloc(32, 7).toString('base64')}`;

/** Cheap argon2 so suites stay fast; the production parameters have their own test. */
export const FAST_ENV: Record<string, string> = {
  ARGON2_MEMORY_KIB: '8192',
  ARGON2_ITERATIONS: '1',
  TESSERA_ENCRYPTION_KEYS: TEST_KEYS,
  LOG_LEVEL: 'info',
  PUBLIC_RATE_LIMIT_PER_MINUTE: '1000',
  // Suites call authenticated routes a lot; the rate-limit tests set their own (low) limits.
  RATE_LIMIT_STARTER_PER_MINUTE: '100000',
  RATE_LIMIT_PROFESSIONAL_PER_MINUTE: '100000',
  RATE_LIMIT_ENTERPRISE_PER_MINUTE: '100000',
  RATE_LIMIT_USER_PER_MINUTE: '100000',
  PAT_LOOKUP_MISSES_PER_MINUTE: '1000',
};

export function redisUrl(): string | undefined {
  return process.env.TESSERA_TEST_REDIS_URL || undefined;
}

export async function testKv(kind: 'memory' | 'redis', clock?: Clock): Promise<KeyValueStore> {
  if (kind === 'memory') return createMemoryKv(clock);
  const url = redisUrl();
  if (!url) throw new Error('no Redis for this test');
  return createRedisKv(url, undefined, `t${randomBytes(4).toString('hex')}:`);
}

export type TestApp = {
  app: TesseraApp;
  /** The services behind the app, for tests that reach under the API (key rotation, the audit chain). */
  services: TestServices;
  db: Db;
  dbUrl: string;
  kv: KeyValueStore;
  config: Config;
  mail: ReturnType<typeof createMemoryMailer>;
  /** The texts the app sent (unless `sms` was given to buildTestApp: then the app used that sender). */
  sms: ReturnType<typeof createMemorySmsSender>;
  logs: string[];
};

export type TestServices = ReturnType<typeof servicesOf>;

const servicesOf = (m: Modules) => ({
  audit: m.audit.service,
  keys: m.tokens.keys,
  accessTokens: m.tokens.accessTokens,
  sessions: m.sessions.service,
  revocations: m.sessions.revocations,
  accounts: m.accounts.service,
  hasher: m.accounts.hasher,
  mfa: m.mfa.service,
  orgs: m.orgs.service,
  orgMembers: m.orgs.members,
  orgAccess: m.orgs.access,
});

/**
 * Builds the real app on its own database. Options: env overrides, the KV kind, a clock, or an
 * existing database/KV to share (to model two instances).
 */
export async function buildTestApp(
  t: Test,
  options: {
    env?: Record<string, string>;
    kv?: 'memory' | 'redis' | KeyValueStore;
    clock?: Clock;
    shareDb?: { db: Db; url: string };
    sms?: SmsSender | null;
  } = {},
): Promise<TestApp> {
  const config = loadConfig({ ...FAST_ENV, ...options.env });
  const database = options.shareDb ? null : await createTestDatabase();
  const db = options.shareDb?.db ?? database!.db;
  const kv = typeof options.kv === 'object' ? options.kv : await testKv(options.kv ?? 'memory', options.clock);
  const mail = createMemoryMailer();
  const sms = createMemorySmsSender();
  const logs: string[] = [];
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logs.push(chunk.toString());
      cb();
    },
  });
  const logger = createLogger(config.logLevel, sink);
  const { app, modules } = await composeApp(config, {
    db,
    kv,
    mailer: mail,
    sms: options.sms === undefined ? sms : options.sms,
    keyring: createKeyring(config.encryptionKeys ?? TEST_KEYS),
    logger,
    clock: options.clock,
    strict: true,
  });
  t.teardown(async () => {
    await app.close();
    if (typeof options.kv !== 'object') await kv.close();
    await database?.drop();
  });
  return { app, services: servicesOf(modules), db, dbUrl: options.shareDb?.url ?? database!.url, kv, config, mail, sms, logs };
}

export function uniqueEmail(prefix = 'user'): string {
  return `${prefix}-${randomUUID().slice(0, 8)}@example.com`;
}

export const GOOD_PASSWORD = 'violet-harbour-lantern-42';

/** Signs up and verifies through the API, the way a user would (following the emailed link). */
export async function createVerifiedUser(ctx: TestApp, opts: { email?: string; password?: string; name?: string } = {}) {
  const email = opts.email ?? uniqueEmail();
  const password = opts.password ?? GOOD_PASSWORD;
  const signup = await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password, name: opts.name ?? 'Test User' } });
  if (signup.statusCode !== 202) throw new Error(`signup failed: ${signup.body}`);
  const token = await waitForLinkToken(ctx, email, 'verify-email');
  // Following the link sets the password (whoever signed up first, the owner's is the one in force).
  const verify = await ctx.app.inject({ method: 'POST', url: '/v1/email/verify', payload: { token, password } });
  if (verify.statusCode !== 200) throw new Error(`verify failed: ${verify.body}`);
  return { email, password };
}

/** Emails go out after the response; wait for the one with the link. */
export async function waitForLinkToken(ctx: TestApp, email: string, path: string): Promise<string> {
  const mail = await eventually(() => [...ctx.mail.sent].reverse().find((m) => m.to === email && m.text.includes(`/${path}?token=`)), {
    timeoutMs: 1000,
    message: `no ${path} email for ${email}`,
  });
  return new URL(mail.text.match(/https?:\/\/\S+/)![0]).searchParams.get('token')!;
}

export async function login(
  ctx: TestApp,
  email: string,
  password: string,
  extra: Record<string, unknown> = {},
  headers: Record<string, string> = {},
) {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password, ...extra }, headers });
  return { res, body: res.json() };
}

export async function loggedInUser(ctx: TestApp) {
  const user = await createVerifiedUser(ctx);
  const { res, body } = await login(ctx, user.email, user.password);
  if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
  return {
    ...user,
    tokens: body as { access_token: string; refresh_token: string; session_id: string },
    auth: { authorization: `Bearer ${body.access_token}` },
  };
}

/** A verified user logged in `sessions` times: the user's id and one token pair per session. */
export async function userWithSessions(ctx: TestApp, sessions: number) {
  const user = await createVerifiedUser(ctx);
  const pairs: Array<{ access_token: string; refresh_token: string; session_id: string }> = [];
  for (let i = 0; i < sessions; i++) {
    const { res, body } = await login(ctx, user.email, user.password);
    if (res.statusCode !== 200) throw new Error(`login failed: ${res.body}`);
    pairs.push(body);
  }
  const row = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  return { ...user, id: row.id, pairs };
}
