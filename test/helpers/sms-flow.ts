import type { TestApp } from './app.js';
import { loggedInUser, login } from './app.js';

/** Twilio's documentation number: +1 ••• ••• 2671 once masked. */
export const PHONE = '+1 415 555 2671';
export const PHONE_E164 = '+14155552671';
export const PHONE_MASKED = '+1 ••• ••• 2671';
/** Its national digits: no response, row, log line or KV entry may hold them in clear. */
export const PHONE_DIGITS = '4155552671';

/** The code in a text ("123456 is your Tessera ..."). */
export function codeIn(text: string): string {
  const m = /^(\d{6}) is your /.exec(text);
  if (!m) throw new Error(`no code in ${JSON.stringify(text)}`);
  return m[1];
}

type Sent = { to: string; body: string };

/** The code in the last text to `to` that `sent` holds (the test app's sender by default). */
export function lastCode(ctx: TestApp, to = PHONE_E164, sent: Sent[] = ctx.sms.sent): string {
  const last = [...sent].reverse().find((m) => m.to === to);
  if (!last) throw new Error(`no text to ${to}`);
  return codeIn(last.body);
}

/** A code that is not `code` (for wrong tries). */
export const wrongCode = (code: string) => String((Number(code) + 1) % 1_000_000).padStart(6, '0');

export type Auth = { authorization: string };

export function enrolPhone(ctx: TestApp, auth: Auth, phone = PHONE) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms', headers: auth, payload: { phone } });
}

export function confirmPhone(ctx: TestApp, auth: Auth, code: string, extra: Record<string, unknown> = {}) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/sms/confirm', headers: auth, payload: { code, ...extra } });
}

/** A logged-in user with a confirmed phone (the sender of `ctx` unless `sent` says where texts land). */
export async function userWithPhone(ctx: TestApp, opts: { phone?: string; e164?: string; sent?: Sent[] } = {}) {
  const user = await loggedInUser(ctx);
  const enrol = await enrolPhone(ctx, user.auth, opts.phone ?? PHONE);
  if (enrol.statusCode !== 200) throw new Error(`enrol failed: ${enrol.body}`);
  const confirm = await confirmPhone(ctx, user.auth, lastCode(ctx, opts.e164 ?? PHONE_E164, opts.sent));
  if (confirm.statusCode !== 200) throw new Error(`confirm failed: ${confirm.body}`);
  const userId = (await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow()).id;
  return { ...user, userId, factorId: enrol.json().factor_id as string, backupCodes: confirm.json().backup_codes as string[] };
}

/** A password login that stops at the second step: its mfa_token. */
export async function mfaToken(ctx: TestApp, user: { email: string; password: string }): Promise<string> {
  const { body } = await login(ctx, user.email, user.password);
  if (body.status !== 'mfa_required') throw new Error(`expected mfa_required: ${JSON.stringify(body)}`);
  return body.mfa_token as string;
}

export function sendLoginCode(ctx: TestApp, token: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/login/mfa/sms', payload: { mfa_token: token } });
}

export function completeLogin(ctx: TestApp, token: string, code: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', payload: { mfa_token: token, method: 'sms', code } });
}

/** A login completed with an SMS code: an aal2 session, fresh for step-up. */
export async function smsLogin(ctx: TestApp, user: { email: string; password: string }, sent?: Sent[], to = PHONE_E164) {
  const token = await mfaToken(ctx, user);
  const send = await sendLoginCode(ctx, token);
  if (send.statusCode !== 200) throw new Error(`send failed: ${send.body}`);
  const done = await completeLogin(ctx, token, lastCode(ctx, to, sent));
  if (done.statusCode !== 200) throw new Error(`login failed: ${done.body}`);
  const tokens = done.json() as { access_token: string; refresh_token: string; session_id: string };
  return { tokens, auth: { authorization: `Bearer ${tokens.access_token}` } };
}

export function reauthChallenge(ctx: TestApp, auth: Auth) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate/challenge', headers: auth, payload: { method: 'sms' } });
}

export function reauthenticate(ctx: TestApp, auth: Auth, code: string) {
  return ctx.app.inject({ method: 'POST', url: '/v1/me/reauthenticate', headers: auth, payload: { method: 'sms', code } });
}

/** Lines of the app's log that hold `code` as a whole (not inside a longer run of digits, such as a timestamp). */
export function logLinesWithCode(ctx: TestApp, code: string): string[] {
  const re = new RegExp(`(?<!\\d)${code}(?!\\d)`);
  return ctx.logs.filter((l) => re.test(l));
}

/** Lines of the app's log that hold `text` anywhere (a number's digits, a token). */
export function logLinesWith(ctx: TestApp, text: string): string[] {
  return ctx.logs.filter((l) => l.includes(text));
}
