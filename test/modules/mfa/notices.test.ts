import t from 'tap';
import { buildTestApp, login, userWithSessions, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';
import { refresh } from '../tokens/forge.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import type { Mail } from '../../../src/infra/mailer.js';
import {
  auditOf,
  bearer,
  firstStep,
  manualClock,
  nextTotp,
  reauthenticate,
  secondStep,
  startTotp,
  userWithTotp,
  type AuditRow,
} from './flow-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });

async function mailTo(ctx: TestApp, to: string, subject: RegExp): Promise<Mail> {
  return eventually(() => ctx.mail.sent.find((m) => m.to === to && subject.test(m.subject)), {
    timeoutMs: 2000,
    message: `a mail "${subject}" to ${to}`,
  });
}

t.test('turning a factor on, making new backup codes and turning it off each email the owner, naming it, with no secret', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const enabled = await mailTo(ctx, user.email, /added/);
  t.equal(enabled.subject, 'A sign-in method was added to your account');
  t.match(enabled.text, /authenticator app \(Authenticator app\)/i, 'names the factor');

  const pair = await secondStep(ctx, (await firstStep(ctx, user)).mfa_token, 'totp', nextTotp(user.secret, clock));
  const auth = bearer(pair.json().access_token);
  const regenerated = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });
  t.equal(regenerated.statusCode, 200);
  const newCodes = regenerated.json<{ backup_codes: string[] }>().backup_codes;
  const codesMail = await mailTo(ctx, user.email, /backup codes/);
  t.equal(codesMail.subject, 'New backup codes were made for your account');

  const removed = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: auth });
  t.equal(removed.statusCode, 204);
  const removedMail = await mailTo(ctx, user.email, /removed/);
  t.equal(removedMail.subject, 'A sign-in method was removed from your account');
  t.match(removedMail.text, /authenticator app/i);

  for (const mail of [enabled, codesMail, removedMail]) {
    const all = `${mail.subject}\n${mail.text}`;
    t.notMatch(all, user.secret, `${mail.subject}: not the secret`);
    t.notMatch(all, /otpauth:/, `${mail.subject}: no otpauth URI`);
    for (const code of [...user.backupCodes, ...newCodes]) t.notOk(all.includes(code), `${mail.subject}: no backup code`);
    t.notMatch(all, /\b\d{6}\b/, `${mail.subject}: no six-digit code`);
  }
  t.equal(ctx.mail.sent.filter((m) => m.to === user.email && /added|removed|backup/.test(m.subject)).length, 3, 'one mail each');
});

t.test('a set-up that is abandoned (started, then removed unconfirmed) sends no "removed" notice', async (t) => {
  const user = await userWithSessions(ctx, 1);
  const auth = bearer(user.pairs[0].access_token);
  await startTotp(ctx, auth);
  const cancel = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: auth });
  t.equal(cancel.statusCode, 204, cancel.body);
  await new Promise((r) => setTimeout(r, 100));
  t.equal(ctx.mail.sent.filter((m) => m.to === user.email && /sign-in method/.test(m.subject)).length, 0);
});

t.test('revoke_other_sessions on confirm signs out every other session and keeps this one', async (t) => {
  const user = await userWithSessions(ctx, 3);
  const [current, ...others] = user.pairs;
  const { secret } = await startTotp(ctx, bearer(current.access_token));
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: bearer(current.access_token),
    payload: { code: nextTotp(secret, clock), revoke_other_sessions: true },
  });
  t.equal(confirm.statusCode, 200, confirm.body);
  for (const other of others) {
    const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(other.access_token) });
    assertProblem(t, me, 401, 'SESSION_REVOKED', 'another session');
    const renewed = await refresh(ctx, other.refresh_token);
    assertProblem(t, renewed.res, 400, 'INVALID_GRANT', "another session's refresh token");
  }
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(current.access_token) });
  t.equal(me.statusCode, 200, 'the session that turned the factor on stays');
  const live = await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', user.id).where('revoked_at', 'is', null).execute();
  t.same(
    live.map((r) => r.id),
    [current.session_id],
  );
  const revoked = await ctx.db
    .selectFrom('sessions')
    .select('revoked_reason')
    .where('user_id', '=', user.id)
    .where('revoked_at', 'is not', null)
    .execute();
  t.same(
    revoked.map((r) => r.revoked_reason),
    ['mfa_enabled', 'mfa_enabled'],
  );
});

t.test('without the flag, confirming leaves the other sessions alone', async (t) => {
  const user = await userWithSessions(ctx, 2);
  const { secret } = await startTotp(ctx, bearer(user.pairs[0].access_token));
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: bearer(user.pairs[0].access_token),
    payload: { code: nextTotp(secret, clock) },
  });
  t.equal(confirm.statusCode, 200);
  const other = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: bearer(user.pairs[1].access_token) });
  t.equal(other.statusCode, 200);
});

t.test('every factor event is audited, with what happened and never a code or secret', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const used: string[] = [...user.backupCodes, user.secret, user.password, totpCode(user.secret, clock.nowSeconds())];

  const first = await firstStep(ctx, user);
  assertProblem(t, await secondStep(ctx, first.mfa_token, 'totp', '000000'), 401, 'MFA_CODE_INVALID');
  const code = nextTotp(user.secret, clock);
  used.push(code, '000000');
  const done = await secondStep(ctx, first.mfa_token, 'totp', code);
  t.equal(done.statusCode, 200);
  const pair = done.json<{ access_token: string; session_id: string }>();
  const auth = bearer(pair.access_token);

  const second = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, second.mfa_token, 'backup_code', user.backupCodes[0])).statusCode, 200);
  clock.advance(301);
  const reauthCode = nextTotp(user.secret, clock);
  used.push(reauthCode);
  t.equal((await reauthenticate(ctx, auth, { method: 'totp', code: reauthCode })).statusCode, 200);
  const regenerated = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });
  used.push(...regenerated.json<{ backup_codes: string[] }>().backup_codes);
  t.equal((await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: auth })).statusCode, 204);
  // The password login of an account without a factor now.
  t.equal((await login(ctx, user.email, user.password)).body.status, 'authenticated');

  const wanted = [
    'mfa.factor_enabled',
    'mfa.backup_codes_generated',
    'session.mfa_required',
    'mfa.verification_failed',
    'mfa.verified',
    'session.login',
    'session.reauthenticated',
    'mfa.factor_removed',
  ];
  const rows = await auditOf(ctx, user.id, (r) => r.filter((e) => e.action === 'session.login').length >= 4);
  const actions = new Set(rows.map((r) => r.action));
  for (const action of wanted) t.ok(actions.has(action), `${action} is recorded`);
  const one = (action: string, where: (r: AuditRow) => boolean = () => true) => rows.find((r) => r.action === action && where(r))!;

  t.same(one('mfa.factor_enabled').data, { kind: 'totp' });
  t.equal(one('mfa.factor_enabled').target_id, user.factorId);
  t.same(one('mfa.factor_removed').data, { kind: 'totp' });
  t.same(
    rows.filter((r) => r.action === 'mfa.backup_codes_generated').map((r) => r.data),
    [{ count: 10 }, { count: 10 }],
    'with the first factor, and on request',
  );
  t.same(one('session.mfa_required').data, { methods: ['totp', 'backup_code'] });
  t.same(one('mfa.verification_failed').data, { method: 'totp', purpose: 'login' });
  // A login's second factor is recorded in its session.login (below); a reauthentication has an event of its own.
  t.notOk(
    rows.some((r) => r.action === 'mfa.verified' && r.data.purpose === 'login'),
    'no separate event for a login',
  );
  t.same(one('mfa.verified', (r) => r.data.purpose === 'reauthenticate').data, { method: 'totp', purpose: 'reauthenticate' });
  t.same(one('session.reauthenticated').data, { method: 'totp', aal: 2 });
  t.equal(one('session.reauthenticated').target_id, pair.session_id);
  const logins = rows.filter((r) => r.action === 'session.login').map((r) => r.data);
  t.same(logins, [
    { amr: ['pwd'], aal: 1 },
    { amr: ['pwd', 'otp'], aal: 2, method: 'totp', factor_id: user.factorId },
    { amr: ['pwd', 'otp'], aal: 2, method: 'backup_code', backup_codes_remaining: 9 },
    { amr: ['pwd'], aal: 1 },
  ]);
  t.equal(one('session.login', (r) => r.data.aal === 2).target_id, pair.session_id);

  const text = JSON.stringify(rows);
  for (const secret of used) t.notOk(text.includes(secret), `no audit event holds ${secret.length > 10 ? 'a secret' : 'a code'}`);

  // The user sees them too.
  const events = await ctx.app.inject({ method: 'GET', url: '/v1/me/security-events?limit=200', headers: auth });
  t.equal(events.statusCode, 200);
  const seen = new Set(events.json<{ events: Array<{ action: string }> }>().events.map((e) => e.action));
  for (const action of wanted) t.ok(seen.has(action), `GET /v1/me/security-events shows ${action}`);
  for (const secret of used) t.notOk(events.body.includes(secret), 'nor does the security-events view');
});
