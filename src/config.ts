import { z } from 'zod';

// Booleans arrive as strings; "false" must not be truthy.
const bool = (fallback: boolean) =>
  z
    .enum(['true', 'false', '1', '0', 'yes', 'no'])
    .optional()
    .transform((v) => (v === undefined ? fallback : ['true', '1', 'yes'].includes(v)));

const optionalBool = z
  .enum(['true', 'false', '1', '0', 'yes', 'no'])
  .optional()
  .transform((v) => (v === undefined ? undefined : ['true', '1', 'yes'].includes(v)));

const int = (fallback: number, min = 0, max = Number.MAX_SAFE_INTEGER) => z.coerce.number().int().min(min).max(max).default(fallback);

const list = z
  .string()
  .optional()
  .transform((v) =>
    v
      ? v
          .split(',')
          .map((s) => s.trim())
          .filter(Boolean)
      : [],
  );

const url = (protocols: string[]) =>
  z
    .string()
    .url()
    .refine((v) => protocols.includes(new URL(v).protocol), {
      message: `must use one of ${protocols.join(', ')}`,
    });

// A path of the frontend's: starts with "/", no query or fragment (the link adds `?token=`).
const appPath = (fallback: string) =>
  z
    .string()
    .regex(/^\/[A-Za-z0-9\-._~!$&'()*+,;=:@%/]*$/, 'must be a path starting with "/", without query or fragment')
    .default(fallback);

const envSchema = z.object({
  PORT: int(8080, 0, 65535),
  HOST: z.string().min(1).default('127.0.0.1'),
  TESSERA_PUBLIC_URL: url(['http:', 'https:']).optional(),
  TESSERA_ISSUER: url(['http:', 'https:']).optional(),
  // Where the links in emails point: the frontend that shows the page and calls the API.
  TESSERA_APP_URL: url(['http:', 'https:'])
    .refine((v) => !new URL(v).search && !new URL(v).hash, { message: 'must not have a query or fragment' })
    .optional(),
  APP_VERIFY_EMAIL_PATH: appPath('/verify-email'),
  APP_RESET_PASSWORD_PATH: appPath('/reset-password'),
  APP_FORGOT_PASSWORD_PATH: appPath('/forgot-password'),
  APP_INVITATION_PATH: appPath('/accept-invitation'),
  // How long an organization invitation's link stays good.
  INVITATION_TTL_DAYS: int(7, 1, 30),
  TESSERA_AUDIENCE: z.string().min(1).default('tessera'),
  DATABASE_URL: url(['postgres:', 'postgresql:']).optional(),
  DATABASE_POOL_SIZE: int(20, 1, 500),
  REDIS_URL: url(['redis:', 'rediss:']).optional(),
  SMTP_URL: url(['smtp:', 'smtps:']).optional(),
  MAIL_FROM: z.string().min(3).default('Tessera <no-reply@tessera.local>'),
  MAIL_PER_ADDRESS_PER_HOUR: int(3, 1, 1000),
  TESSERA_ENCRYPTION_KEYS: z.string().optional(),
  REQUIRE_EMAIL_VERIFICATION: bool(true),
  MIGRATE_ON_START: optionalBool,
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATA_DIR: z.string().min(1).default('./.data'),
  // A hop count or the proxies' addresses/CIDRs. "true" trusts every hop, which lets any client
  // pick its own IP through X-Forwarded-For; only use it when the proxy overwrites that header.
  TRUST_PROXY: z
    .string()
    .optional()
    .transform((v, ctx): boolean | number | string[] => {
      if (v === undefined || v === '' || v === 'false' || v === '0') return false;
      if (v === 'true') return true;
      if (/^\d+$/.test(v)) return Number(v);
      const list = v
        .split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      if (list.every((e) => /^[0-9a-fA-F:.]+(\/\d{1,3})?$/.test(e))) return list;
      ctx.addIssue({ code: 'custom', message: 'must be false, true, a hop count or a comma-separated list of IPs/CIDRs' });
      return z.NEVER;
    }),
  // Without SMTP a production instance would write reset links into its logs: allowed only on purpose.
  MAIL_TO_LOG: optionalBool,
  CORS_ORIGINS: list,
  COOKIE_SECURE: bool(true),
  JWT_ALG: z.enum(['ES256', 'EdDSA', 'RS256']).default('ES256'),
  ACCESS_TOKEN_TTL: int(900, 60, 3600),
  REFRESH_TOKEN_TTL: int(43200, 300, 60 * 60 * 24 * 30),
  REFRESH_REUSE_GRACE_SECONDS: int(5, 0, 60),
  ARGON2_MEMORY_KIB: int(19456, 8192, 1 << 21),
  ARGON2_ITERATIONS: int(2, 1, 10),
  ARGON2_PARALLELISM: int(1, 1, 16),
  LOGIN_ACCOUNT_FREE_FAILURES: int(5, 1, 1_000_000),
  LOGIN_IP_FREE_FAILURES: int(50, 1, 1_000_000),
  LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES: int(100, 1, 1_000_000),
  LOGIN_THROTTLE_BASE_SECONDS: int(2, 1, 3600),
  LOGIN_THROTTLE_MAX_SECONDS: int(900, 1, 86400),
  LOGIN_THROTTLE_WINDOW_SECONDS: int(3600, 60, 86400 * 7),
  PUBLIC_RATE_LIMIT_PER_MINUTE: int(30, 1, 1_000_000),
  // Authenticated requests a minute, counted per org (the token's org, by its plan) or per user (a token without an org).
  RATE_LIMIT_ENABLED: bool(true),
  RATE_LIMIT_STARTER_PER_MINUTE: int(100, 1, 1_000_000_000),
  RATE_LIMIT_PROFESSIONAL_PER_MINUTE: int(1000, 1, 1_000_000_000),
  RATE_LIMIT_ENTERPRISE_PER_MINUTE: int(10_000, 1, 1_000_000_000),
  RATE_LIMIT_USER_PER_MINUTE: int(600, 1, 1_000_000_000),
  // Token exchanges (POST /v1/token, grant token-exchange) a minute per personal access token.
  PAT_EXCHANGES_PER_MINUTE: int(600, 1, 1_000_000),
  // Personal access tokens presented (exchange, service credentials) that match no token, a minute per client address.
  PAT_LOOKUP_MISSES_PER_MINUTE: int(30, 1, 1_000_000),
  BODY_LIMIT_BYTES: int(32 * 1024, 1024, 10 * 1024 * 1024),
  SHUTDOWN_TIMEOUT_MS: int(10_000, 0, 120_000),
  // Slow clients: a request must arrive whole (headers, then body) within these limits.
  REQUEST_TIMEOUT_MS: int(10_000, 100, 600_000),
  HEADERS_TIMEOUT_MS: int(5_000, 100, 600_000),
  KEEP_ALIVE_TIMEOUT_MS: int(5_000, 100, 600_000),
  CONNECTION_TIMEOUT_MS: int(10_000, 100, 600_000),
  // MFA. The issuer is the name authenticator apps show next to the account.
  MFA_ISSUER: z.string().min(1).max(64).default('Tessera'),
  // Wrong second factors per account (across mfa_tokens and reauthentications) before a pause.
  MFA_ACCOUNT_FREE_FAILURES: int(20, 1, 1_000_000),
  MFA_FAILURE_WINDOW_SECONDS: int(900, 60, 86400),
  // Wrong second factors in a row (no right one between, whatever the windows) that lock the second step until a password reset.
  MFA_ACCOUNT_LOCK_FAILURES: int(100, 1, 10_000),
  // SMS through a Twilio-compatible API (SMS_URL is the API base, e.g. https://api.twilio.com).
  SMS_URL: url(['http:', 'https:']).optional(),
  SMS_ACCOUNT_SID: z.string().min(1).optional(),
  SMS_AUTH_TOKEN: z.string().min(1).optional(),
  SMS_FROM: z.string().min(1).optional(),
  // Without SMS_URL, texts are written to the log: the default in embedded mode only.
  SMS_TO_LOG: optionalBool,
  SMS_PER_USER_PER_HOUR: int(5, 1, 1000),
  SMS_PER_NUMBER_PER_HOUR: int(5, 1, 1000),
  // WebAuthn relying party: the id defaults to the frontend's host, the origins to its origin.
  WEBAUTHN_RP_ID: z.string().min(1).optional(),
  WEBAUTHN_RP_NAME: z.string().min(1).max(64).default('Tessera'),
  WEBAUTHN_ORIGINS: list,
  // /metrics on its own listener (then not on PORT) and/or behind a bearer token.
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  METRICS_HOST: z.string().min(1).default('127.0.0.1'),
  METRICS_TOKEN: z.string().min(16, 'must be at least 16 characters').optional(),
});

/** The variables Tessera reads: the e2e tests keep exactly these out of a child's inherited environment. */
export const CONFIG_VARIABLES = Object.keys(envSchema.shape) as Array<keyof typeof envSchema.shape>;

/** The environment, validated and shaped into what the code reads. */
export const configSchema = envSchema.transform((e, ctx) => {
  // Node refuses a headers timeout longer than the request timeout.
  if (e.HEADERS_TIMEOUT_MS > e.REQUEST_TIMEOUT_MS) {
    ctx.addIssue({ code: 'custom', path: ['HEADERS_TIMEOUT_MS'], message: 'must not exceed REQUEST_TIMEOUT_MS' });
  }
  if (e.METRICS_PORT !== undefined && e.METRICS_PORT === e.PORT) {
    ctx.addIssue({ code: 'custom', path: ['METRICS_PORT'], message: 'must differ from PORT' });
  }
  const publicUrl = (e.TESSERA_PUBLIC_URL ?? `http://${e.HOST}:${e.PORT}`).replace(/\/+$/, '');
  const appUrl = (e.TESSERA_APP_URL ?? publicUrl).replace(/\/+$/, '');
  if (e.SMS_URL && !(e.SMS_ACCOUNT_SID && e.SMS_AUTH_TOKEN && e.SMS_FROM)) {
    ctx.addIssue({ code: 'custom', path: ['SMS_URL'], message: 'needs SMS_ACCOUNT_SID, SMS_AUTH_TOKEN and SMS_FROM' });
  }
  return {
    port: e.PORT,
    host: e.HOST,
    publicUrl,
    issuer: (e.TESSERA_ISSUER ?? publicUrl).replace(/\/+$/, ''),
    audience: e.TESSERA_AUDIENCE,
    databaseUrl: e.DATABASE_URL,
    databasePoolSize: e.DATABASE_POOL_SIZE,
    redisUrl: e.REDIS_URL,
    smtpUrl: e.SMTP_URL,
    mailFrom: e.MAIL_FROM,
    mailPerAddressPerHour: e.MAIL_PER_ADDRESS_PER_HOUR,
    appLinks: {
      appUrl,
      verifyEmailPath: e.APP_VERIFY_EMAIL_PATH,
      resetPasswordPath: e.APP_RESET_PASSWORD_PATH,
      forgotPasswordPath: e.APP_FORGOT_PASSWORD_PATH,
      invitationPath: e.APP_INVITATION_PATH,
    },
    invitationTtlDays: e.INVITATION_TTL_DAYS,
    encryptionKeys: e.TESSERA_ENCRYPTION_KEYS,
    requireEmailVerification: e.REQUIRE_EMAIL_VERIFICATION,
    // Embedded mode owns its database, so it migrates by default; a shared one is migrated on purpose.
    migrateOnStart: e.MIGRATE_ON_START ?? !e.DATABASE_URL,
    logLevel: e.LOG_LEVEL,
    dataDir: e.DATA_DIR,
    trustProxy: e.TRUST_PROXY,
    mailToLog: e.MAIL_TO_LOG ?? !e.DATABASE_URL,
    corsOrigins: e.CORS_ORIGINS,
    cookieSecure: e.COOKIE_SECURE,
    jwtAlg: e.JWT_ALG,
    accessTokenTtl: e.ACCESS_TOKEN_TTL,
    refreshTokenTtl: e.REFRESH_TOKEN_TTL,
    refreshReuseGraceSeconds: e.REFRESH_REUSE_GRACE_SECONDS,
    argon2: {
      memoryCost: e.ARGON2_MEMORY_KIB,
      timeCost: e.ARGON2_ITERATIONS,
      parallelism: e.ARGON2_PARALLELISM,
    },
    loginThrottle: {
      accountFreeFailures: e.LOGIN_ACCOUNT_FREE_FAILURES,
      ipFreeFailures: e.LOGIN_IP_FREE_FAILURES,
      accountGlobalFreeFailures: e.LOGIN_ACCOUNT_GLOBAL_FREE_FAILURES,
      baseSeconds: e.LOGIN_THROTTLE_BASE_SECONDS,
      maxSeconds: e.LOGIN_THROTTLE_MAX_SECONDS,
      windowSeconds: e.LOGIN_THROTTLE_WINDOW_SECONDS,
    },
    publicRateLimitPerMinute: e.PUBLIC_RATE_LIMIT_PER_MINUTE,
    rateLimit: {
      enabled: e.RATE_LIMIT_ENABLED,
      perPlanPerMinute: {
        starter: e.RATE_LIMIT_STARTER_PER_MINUTE,
        professional: e.RATE_LIMIT_PROFESSIONAL_PER_MINUTE,
        enterprise: e.RATE_LIMIT_ENTERPRISE_PER_MINUTE,
      },
      userPerMinute: e.RATE_LIMIT_USER_PER_MINUTE,
    },
    pats: { exchangesPerMinute: e.PAT_EXCHANGES_PER_MINUTE, lookupMissesPerMinute: e.PAT_LOOKUP_MISSES_PER_MINUTE },
    bodyLimit: e.BODY_LIMIT_BYTES,
    shutdownTimeoutMs: e.SHUTDOWN_TIMEOUT_MS,
    timeouts: {
      requestMs: e.REQUEST_TIMEOUT_MS,
      headersMs: e.HEADERS_TIMEOUT_MS,
      keepAliveMs: e.KEEP_ALIVE_TIMEOUT_MS,
      connectionMs: e.CONNECTION_TIMEOUT_MS,
    },
    metrics: { port: e.METRICS_PORT, host: e.METRICS_HOST, token: e.METRICS_TOKEN },
    mfa: {
      issuer: e.MFA_ISSUER,
      failureBudget: {
        maxFailures: e.MFA_ACCOUNT_FREE_FAILURES,
        windowSeconds: e.MFA_FAILURE_WINDOW_SECONDS,
        lockAfter: e.MFA_ACCOUNT_LOCK_FAILURES,
      },
    },
    sms: {
      url: e.SMS_URL,
      accountSid: e.SMS_ACCOUNT_SID,
      authToken: e.SMS_AUTH_TOKEN,
      from: e.SMS_FROM,
      toLog: e.SMS_TO_LOG ?? !e.DATABASE_URL,
      perUserPerHour: e.SMS_PER_USER_PER_HOUR,
      perNumberPerHour: e.SMS_PER_NUMBER_PER_HOUR,
    },
    webauthn: {
      rpId: e.WEBAUTHN_RP_ID ?? new URL(appUrl).hostname,
      rpName: e.WEBAUTHN_RP_NAME,
      origins: e.WEBAUTHN_ORIGINS.length ? e.WEBAUTHN_ORIGINS : [new URL(appUrl).origin],
    },
  };
});

export type Config = z.output<typeof configSchema>;

export class ConfigError extends Error {}

/** Parses the environment once; every problem is named by its variable. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = configSchema.safeParse(env);
  if (!parsed.success) {
    const lines = parsed.error.issues.map((i) => `  ${i.path.join('.')}: ${i.message}`);
    throw new ConfigError(`Invalid configuration:\n${lines.join('\n')}`);
  }
  return parsed.data;
}
