import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import type { Clock } from '../../../src/infra/clock.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { loggedInUser, login, type TestApp } from '../../helpers/app.js';

/** Debian's oathtool (OATH Toolkit): a TOTP generator that shares no code with otplib. */
export const OATHTOOL = '/usr/bin/oathtool';
export const hasOathtool = existsSync(OATHTOOL);

/** `oathtool --totp -b --now=@<seconds> SECRET`: the code an independent app shows at that time. */
export function oathtool(secretBase32: string, epochSeconds: number, digits: 6 | 8 = 6): string {
  return execFileSync(OATHTOOL, ['--totp', '-b', `--digits=${digits}`, `--now=@${epochSeconds}`, secretBase32], {
    encoding: 'utf8',
  }).trim();
}

/**
 * A clock that stands still until the test moves it, so a test never depends on the wall clock
 * crossing a 30 s boundary. It starts at the beginning of the current 30 s step (near the wall
 * clock, so what the database stamps with now() stays comparable).
 */
export function manualClock(): Clock & { set(seconds: number): void; advance(seconds: number): void; seconds(): number } {
  let ms = Math.floor(Date.now() / 30_000) * 30_000;
  return {
    now: () => new Date(ms),
    nowSeconds: () => Math.floor(ms / 1000),
    set(seconds) {
      ms = seconds * 1000;
    },
    advance(seconds) {
      ms += seconds * 1000;
    },
    seconds: () => Math.floor(ms / 1000),
  };
}

export type Bearer = { authorization: string };

export async function userIdOf(ctx: TestApp, email: string): Promise<string> {
  return (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
}

export function enrolTotp(ctx: TestApp, auth: Bearer) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: auth });
}

export function confirmTotp(ctx: TestApp, auth: Bearer, payload: Record<string, unknown>) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: auth, payload });
}

/**
 * A verified, logged-in user with a confirmed authenticator app, set up through the API at the
 * clock's current time (that step is spent by the confirm). Returns the secret and backup codes.
 * Confirming the app made the session (`auth`) fresh at aal 2.
 */
export async function userWithTotp(ctx: TestApp, clock: Clock) {
  return turnOnTotp(ctx, clock, await loggedInUser(ctx));
}

/**
 * userWithTotp, plus `earlier`: a second password session opened before the app was set up. It
 * stays aal1 (only the confirming session is lifted): an aal1 session of an account with a factor,
 * which after the factor is on no login can open any more.
 */
export async function userWithTotpAndEarlierSession(ctx: TestApp, clock: Clock) {
  const user = await loggedInUser(ctx);
  const { res, body } = await login(ctx, user.email, user.password);
  if (res.statusCode !== 200 || body.status !== 'authenticated') throw new Error(`expected a session: ${res.body}`);
  const tokens = body as { access_token: string; refresh_token: string; session_id: string };
  const earlier = { tokens, auth: { authorization: `Bearer ${tokens.access_token}` } };
  return { ...(await turnOnTotp(ctx, clock, user)), earlier };
}

async function turnOnTotp(ctx: TestApp, clock: Clock, user: Awaited<ReturnType<typeof loggedInUser>>) {
  const enrol = await enrolTotp(ctx, user.auth);
  if (enrol.statusCode !== 200) throw new Error(`enrol failed: ${enrol.body}`);
  const secret = enrol.json<{ secret: string }>().secret;
  const confirm = await confirmTotp(ctx, user.auth, { code: totpCode(secret, clock.nowSeconds()) });
  if (confirm.statusCode !== 200) throw new Error(`confirm failed: ${confirm.body}`);
  const id = await userIdOf(ctx, user.email);
  return { ...user, id, secret, backupCodes: confirm.json<{ backup_codes: string[] }>().backup_codes };
}

/** The first step of a login for a user with a factor: the mfa_token. */
export async function mfaToken(ctx: TestApp, user: { email: string; password: string }): Promise<string> {
  const { res, body } = await login(ctx, user.email, user.password);
  if (res.statusCode !== 200 || body.status !== 'mfa_required') throw new Error(`expected mfa_required: ${res.body}`);
  return body.mfa_token as string;
}

/**
 * n mfa_tokens of one user, one login after another (parallel password logins would meet the
 * login throttle, which reserves a try before the password is checked).
 */
export async function mfaTokens(n: number, next: (i: number) => Promise<string>): Promise<string[]> {
  const tokens: string[] = [];
  for (let i = 0; i < n; i++) tokens.push(await next(i));
  return tokens;
}

/** The second step: POST /v1/login/mfa. */
export function secondStep(ctx: TestApp, token: string, method: 'totp' | 'backup_code', code: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', payload: { mfa_token: token, method, code } });
}

/** The audit actions recorded for a user, oldest first. */
export async function auditActions(ctx: TestApp, userId: string): Promise<string[]> {
  const rows = await ctx.db.selectFrom('audit_events').select('action').where('actor_id', '=', userId).orderBy('seq').execute();
  return rows.map((r) => r.action);
}

/** How many of each status code a batch of responses had, e.g. {200: 1, 401: 9}. */
export function statusCounts(responses: Array<{ statusCode: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
}
