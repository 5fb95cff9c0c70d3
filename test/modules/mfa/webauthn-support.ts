import type { Test } from 'tap';
import { buildTestApp, loggedInUser, login, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { createSoftAuthenticator, type SoftAuthenticator, type SoftAuthenticatorOptions } from '../../helpers/soft-authenticator.js';

/** The relying party the WebAuthn tests run as: the frontend's host and origin (the config defaults). */
export const RP_ID = 'app.example.test';
export const ORIGIN = `https://${RP_ID}`;
export const WEBAUTHN_ENV = { TESSERA_APP_URL: `${ORIGIN}/`, WEBAUTHN_RP_NAME: 'Tessera Test' };

export type Bearer = { authorization: string };
export type Json = Record<string, unknown>;

export function webauthnApp(t: Test, options: Parameters<typeof buildTestApp>[1] = {}) {
  return buildTestApp(t, { ...options, env: { ...WEBAUTHN_ENV, ...options.env } });
}

/** A security key (USB, no user verification, no resident keys) or, with `passkey`, a platform authenticator. */
export function securityKey(options: Partial<SoftAuthenticatorOptions> = {}): SoftAuthenticator {
  return createSoftAuthenticator({ origin: ORIGIN, transports: ['usb'], userVerification: false, ...options });
}

export function platformAuthenticator(options: Partial<SoftAuthenticatorOptions> = {}): SoftAuthenticator {
  return createSoftAuthenticator({ origin: ORIGIN, transports: ['internal'], attachment: 'platform', userVerification: true, ...options });
}

/** A synced passkey provider: backup eligible and backed up, no counter (as iCloud Keychain and Google report). */
export function syncedPasskeyProvider(): SoftAuthenticator {
  return platformAuthenticator({ transports: ['internal', 'hybrid'], backupEligible: true, counter: 'none' });
}

export async function userIdOf(ctx: TestApp, email: string): Promise<string> {
  return (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
}

export function post(ctx: TestApp, url: string, payload?: unknown, headers: Record<string, string> = {}) {
  return ctx.app.inject({ method: 'POST', url, headers, ...(payload === undefined ? {} : { payload: payload as Json }) });
}

export async function registrationOptions(ctx: TestApp, auth: Bearer, body: Json = {}) {
  const res = await post(ctx, '/v1/me/webauthn/registration/options', body, auth);
  if (res.statusCode !== 200) throw new Error(`registration options failed: ${res.body}`);
  return res.json<{ options: Json & { challenge: string } }>().options;
}

/** Options, then the authenticator's answer, through the API. Returns the raw response. */
export async function register(
  ctx: TestApp,
  auth: Bearer,
  authenticator: SoftAuthenticator,
  opts: { passkey?: boolean; name?: string } = {},
) {
  const options = await registrationOptions(ctx, auth, opts.passkey ? { passkey: true } : {});
  const response = authenticator.register(options as never);
  return post(ctx, '/v1/me/webauthn/registration', { response, ...(opts.name ? { name: opts.name } : {}) }, auth);
}

/**
 * A verified, logged-in user with one registered credential. Registering it made the session
 * (`auth`) fresh at aal 2.
 */
export async function userWithKey(ctx: TestApp, authenticator: SoftAuthenticator = securityKey(), opts: { passkey?: boolean } = {}) {
  return addKey(ctx, await loggedInUser(ctx), authenticator, opts);
}

/**
 * userWithKey, plus `earlier`: a second password session opened before the key was registered. It
 * stays aal1 (only the registering session is lifted): an aal1 session of an account with a
 * factor, which after the factor is on no login can open any more.
 */
export async function userWithKeyAndEarlierSession(ctx: TestApp, authenticator: SoftAuthenticator = securityKey()) {
  const user = await loggedInUser(ctx);
  const { res, body } = await login(ctx, user.email, user.password);
  if (res.statusCode !== 200 || body.status !== 'authenticated') throw new Error(`expected a session: ${res.body}`);
  const tokens = body as { access_token: string; refresh_token: string; session_id: string };
  const earlier = { tokens, auth: { authorization: `Bearer ${tokens.access_token}` } };
  return { ...(await addKey(ctx, user, authenticator, {})), earlier };
}

async function addKey(
  ctx: TestApp,
  user: Awaited<ReturnType<typeof loggedInUser>>,
  authenticator: SoftAuthenticator,
  opts: { passkey?: boolean },
) {
  const res = await register(ctx, user.auth, authenticator, opts);
  if (res.statusCode !== 200) throw new Error(`registration failed: ${res.body}`);
  const body = res.json<{ factor_id: string; backup_codes: string[] | null }>();
  return { ...user, id: await userIdOf(ctx, user.email), authenticator, factorId: body.factor_id, backupCodes: body.backup_codes };
}

/** The password step of a login that needs a second factor: the mfa_token. */
export async function mfaToken(ctx: TestApp, email: string, password: string): Promise<string> {
  const { res, body } = await login(ctx, email, password);
  if (res.statusCode !== 200 || body.status !== 'mfa_required') throw new Error(`expected mfa_required: ${res.body}`);
  return body.mfa_token as string;
}

export async function loginOptions(ctx: TestApp, token: string) {
  const res = await post(ctx, '/v1/login/mfa/webauthn/options', { mfa_token: token });
  if (res.statusCode !== 200) throw new Error(`login options failed: ${res.body}`);
  return res.json<{ options: Json & { challenge: string; rpId: string } }>().options;
}

export async function passkeyOptions(ctx: TestApp) {
  const res = await post(ctx, '/v1/login/passkey/options', {});
  if (res.statusCode !== 200) throw new Error(`passkey options failed: ${res.body}`);
  return res.json<{ challenge_id: string; options: Json & { challenge: string; rpId: string } }>();
}

/** The claims of an access token (its signature is other tests' business). */
export function claimsOf(accessToken: string): Json {
  return JSON.parse(Buffer.from(accessToken.split('.')[1]!, 'base64url').toString('utf8')) as Json;
}

export async function countRows(ctx: TestApp) {
  const [factors, sessions] = await Promise.all([
    ctx.db
      .selectFrom('mfa_factors')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
    ctx.db
      .selectFrom('sessions')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { factors: Number(factors.n), sessions: Number(sessions.n) };
}

/** Audit events of one action, waiting for detached writes to land. */
export async function auditEvents(ctx: TestApp, action: string, atLeast = 1) {
  return eventually(
    async () => {
      const rows = await ctx.db.selectFrom('audit_events').selectAll().where('action', '=', action).orderBy('seq').execute();
      return rows.length >= atLeast && rows;
    },
    { timeoutMs: 2000, message: `no ${action} audit event` },
  );
}
