/**
 * Helpers for the login second step, step-up and profile tests: a clock the test moves, a user
 * with an authenticator app set up through the API, and the two steps of a login.
 */
import type { LightMyRequestResponse } from 'fastify';
import type { Clock } from '../../../src/infra/clock.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { loggedInUser, login, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { switchTo } from '../../helpers/orgs.js';

export type ManualClock = Clock & { advance(seconds: number): void };

/**
 * A clock that stands still until the test moves it, so no test depends on the wall clock
 * crossing a 30 s boundary. It starts at the beginning of the current 30 s step: near the wall
 * clock, so rows the database stamps with now() stay comparable.
 */
export function manualClock(): ManualClock {
  let ms = Math.floor(Date.now() / 30_000) * 30_000;
  return {
    now: () => new Date(ms),
    nowSeconds: () => Math.floor(ms / 1000),
    advance(seconds) {
      ms += seconds * 1000;
    },
  };
}

export type Bearer = { authorization: string };
export type Pair = { access_token: string; refresh_token: string; session_id: string };

export const bearer = (accessToken: string): Bearer => ({ authorization: `Bearer ${accessToken}` });

export async function userIdOf(ctx: TestApp, email: string): Promise<string> {
  return (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
}

/** Starts an authenticator-app set-up on this session; returns the secret (the factor stays pending). */
export async function startTotp(ctx: TestApp, auth: Bearer): Promise<{ secret: string; factor_id: string }> {
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: auth });
  if (res.statusCode !== 200) throw new Error(`TOTP set-up failed: ${res.body}`);
  return res.json();
}

/** Another password login of the user: a new aal1 session (only possible while no factor is on). */
export async function passwordSession(ctx: TestApp, user: { email: string; password: string }) {
  const { res, body } = await login(ctx, user.email, user.password);
  if (res.statusCode !== 200 || body.status !== 'authenticated') throw new Error(`expected a session: ${res.body}`);
  const tokens = body as Pair;
  return { tokens, auth: bearer(tokens.access_token) };
}

/**
 * A verified user, logged in with the password (`auth`), who then turned on an authenticator app
 * on that session at the clock's current step (that step is spent). Confirming the app made that
 * session fresh at aal 2.
 */
export async function userWithTotp(ctx: TestApp, clock: Clock, confirmExtra: Record<string, unknown> = {}) {
  return turnOnTotp(ctx, clock, await loggedInUser(ctx), confirmExtra);
}

/**
 * userWithTotp, plus `earlier`: a second password session opened before the app was set up. It
 * stays aal1 (only the confirming session is lifted): an aal1 session of an account with a factor,
 * which after the factor is on no login can open any more.
 */
export async function userWithTotpAndEarlierSession(ctx: TestApp, clock: Clock) {
  const user = await loggedInUser(ctx);
  const earlier = await passwordSession(ctx, user);
  return { ...(await turnOnTotp(ctx, clock, user, {})), earlier };
}

async function turnOnTotp(
  ctx: TestApp,
  clock: Clock,
  user: Awaited<ReturnType<typeof loggedInUser>>,
  confirmExtra: Record<string, unknown>,
) {
  const { secret, factor_id } = await startTotp(ctx, user.auth);
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: user.auth,
    payload: { code: totpCode(secret, clock.nowSeconds()), ...confirmExtra },
  });
  if (confirm.statusCode !== 200) throw new Error(`TOTP confirm failed: ${confirm.body}`);
  const id = await userIdOf(ctx, user.email);
  return { ...user, id, secret, factorId: factor_id, backupCodes: confirm.json<{ backup_codes: string[] }>().backup_codes };
}

/** A code for the next 30 s step: the clock moves on by one step first, so no step is ever offered twice. */
export function nextTotp(secret: string, clock: ManualClock): string {
  clock.advance(30);
  return totpCode(secret, clock.nowSeconds());
}

/** The first step for a user with a factor: the mfa_required body. */
export async function firstStep(ctx: TestApp, user: { email: string; password: string }, extra: Record<string, unknown> = {}) {
  const { res, body } = await login(ctx, user.email, user.password, extra);
  if (res.statusCode !== 200 || body.status !== 'mfa_required') throw new Error(`expected mfa_required: ${res.body}`);
  return body as { status: 'mfa_required'; mfa_token: string; methods: string[]; expires_in: number };
}

export function secondStep(ctx: TestApp, mfaToken: string, method: string, code: string): Promise<LightMyRequestResponse> {
  return ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', payload: { mfa_token: mfaToken, method, code } });
}

/** Both steps with the authenticator app: an aal2 session's token pair. */
export async function aal2Login(ctx: TestApp, user: { email: string; password: string; secret: string }, clock: ManualClock) {
  const { mfa_token } = await firstStep(ctx, user);
  const res = await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock));
  if (res.statusCode !== 200) throw new Error(`second step failed: ${res.body}`);
  const pair = res.json<Pair>();
  return { ...pair, auth: bearer(pair.access_token) };
}

export function reauthenticate(ctx: TestApp, auth: Bearer, payload: unknown) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate', headers: auth, payload: payload as Record<string, unknown> });
}

export async function sessionCount(ctx: TestApp, userId?: string): Promise<number> {
  let q = ctx.db.selectFrom('sessions').select((eb) => eb.fn.countAll<string>().as('n'));
  if (userId) q = q.where('user_id', '=', userId);
  return Number((await q.executeTakeFirstOrThrow()).n);
}

export type AuditRow = { action: string; data: Record<string, unknown>; target_id: string | null };

/** The user's audit events, oldest first (detached writes are flushed in the background: poll for `until`). */
export async function auditOf(ctx: TestApp, userId: string, until?: (rows: AuditRow[]) => boolean): Promise<AuditRow[]> {
  const read = () =>
    ctx.db.selectFrom('audit_events').select(['action', 'data', 'target_id']).where('actor_id', '=', userId).orderBy('seq').execute();
  if (!until) return read();
  return eventually(
    async () => {
      const rows = await read();
      return until(rows) ? rows : null;
    },
    { timeoutMs: 3000, message: 'audit events' },
  );
}

/** How many of each status a batch of responses had, e.g. {200: 1, 401: 1}. */
export function statusCounts(responses: Array<{ statusCode: number }>): Record<number, number> {
  const counts: Record<number, number> = {};
  for (const r of responses) counts[r.statusCode] = (counts[r.statusCode] ?? 0) + 1;
  return counts;
}

/** An Owner with an authenticator app (their session is aal 2) and a new org, the Owner's token switched into it. */
export async function orgOfTotpOwner(ctx: TestApp, clock: Clock, name = 'Policy Org') {
  const owner = await userWithTotp(ctx, clock);
  const created = await ctx.app.inject({ method: 'POST', url: '/v1/orgs', headers: owner.auth, payload: { name } });
  if (created.statusCode !== 201) throw new Error(created.body);
  const org = created.json() as { id: string };
  // Into the org (the session is aal 2 since the app was confirmed): the org's routes take its token.
  const auth = await switchTo(ctx, owner.tokens, org.id);
  return { owner: { ...owner, auth }, org };
}

/** PATCH /v1/orgs/{org} {security_policy} with the caller's token for the org. */
export function setPolicy(ctx: TestApp, auth: Bearer, orgId: string, policy: Record<string, unknown>) {
  return ctx.app.inject({ method: 'PATCH', url: `/v1/orgs/${orgId}`, headers: auth, payload: { security_policy: policy } });
}
