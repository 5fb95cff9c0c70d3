/**
 * Confirming an authenticator app set-up takes at most five wrong codes: a try is taken (one
 * conditional UPDATE on the pending row) before the code is compared, so parallel guesses share
 * the five; the fifth wrong code ends the set-up. Each wrong code is audited, never the code.
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { manualClock, startTotp, userIdOf, type Bearer } from './flow-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock });

const confirmTotp = (auth: Bearer, code: string) =>
  ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: auth, payload: { code } });
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();
const failedAudits = (userId: string) =>
  ctx.db
    .selectFrom('audit_events')
    .select(['data', 'target_id'])
    .where('actor_id', '=', userId)
    .where('action', '=', 'mfa.verification_failed')
    .execute();

/** `n` distinct six-digit codes, none of which the ±1 step window accepts now. */
function wrongCodes(secret: string, n: number): string[] {
  const now = clock.nowSeconds();
  const valid = new Set([now - 30, now, now + 30].map((s) => totpCode(secret, s)));
  const codes: string[] = [];
  for (let x = 123_457; codes.length < n; x = (x + 100_003) % 1_000_000) {
    const code = String(x).padStart(6, '0');
    if (!valid.has(code) && !codes.includes(code)) codes.push(code);
  }
  return codes;
}

async function pendingApp() {
  const user = await loggedInUser(ctx);
  const id = await userIdOf(ctx, user.email);
  const { secret, factor_id } = await startTotp(ctx, user.auth);
  return { user, id, secret, factorId: factor_id };
}

t.test('five wrong codes end the set-up (4..0 tries left); the sixth, even the right code, finds none', async (t) => {
  const { user, id, secret, factorId } = await pendingApp();
  const wrong = wrongCodes(secret, 5);
  for (let i = 0; i < 5; i++) {
    const p = assertProblem(t, await confirmTotp(user.auth, wrong[i]!), 401, 'MFA_CODE_INVALID', `wrong code ${i + 1}`);
    t.equal(p.attempts_remaining, 4 - i, `wrong code ${i + 1}: ${4 - i} left`);
    if (i < 4) t.equal((await factorRows(id))[0]?.enrol_failures, i + 1, `wrong code ${i + 1}: counted on the pending row`);
  }
  t.same(await factorRows(id), [], 'the fifth wrong code deleted the pending row');
  const right = totpCode(secret, clock.nowSeconds());
  assertProblem(t, await confirmTotp(user.auth, right), 409, 'FACTOR_NOT_PENDING', 'the right code after the fifth wrong one');
  t.same(await factorRows(id), [], 'nothing confirmed');
  const sessions = await ctx.db.selectFrom('sessions').select(['aal', 'auth_aal']).where('user_id', '=', id).execute();
  t.same(sessions, [{ aal: 1, auth_aal: 1 }], 'the session was not lifted');

  const audits = await eventually(async () => {
    const rows = await failedAudits(id);
    return rows.length === 5 && rows;
  });
  for (const a of audits) {
    t.same(a.data, { method: 'totp', purpose: 'enrol' }, 'method and purpose only');
    t.equal(a.target_id, factorId, 'the set-up it was for');
  }
  const text = JSON.stringify(audits);
  t.notOk(
    wrong.some((c) => text.includes(c)),
    'no wrong code in the audit trail',
  );

  // A new set-up (step-up still fresh) starts with five tries again.
  const again = await startTotp(ctx, user.auth);
  const ok = await confirmTotp(user.auth, totpCode(again.secret, clock.nowSeconds()));
  t.equal(ok.statusCode, 200, ok.body);
});

t.test('input that is not six digits costs no try; four wrong codes, then the right one: the app is on', async (t) => {
  const { user, id, secret } = await pendingApp();
  for (const typo of ['12345', '1234567', 'abcdef']) {
    const p = assertProblem(t, await confirmTotp(user.auth, typo), 401, 'MFA_CODE_INVALID', `"${typo}"`);
    t.equal(p.attempts_remaining, 5, `"${typo}": all five tries left`);
  }
  t.equal((await factorRows(id))[0]?.enrol_failures, 0, 'nothing counted');
  for (const code of wrongCodes(secret, 4)) assertProblem(t, await confirmTotp(user.auth, code), 401, 'MFA_CODE_INVALID');
  const ok = await confirmTotp(user.auth, totpCode(secret, clock.nowSeconds()));
  t.equal(ok.statusCode, 200, ok.body);
  t.ok((await factorRows(id))[0]?.confirmed_at, 'confirmed');
});

t.test('10 wrong codes at once: at most five are compared, the rest find no set-up', async (t) => {
  const { user, id, secret } = await pendingApp();
  const answers = await Promise.all(wrongCodes(secret, 10).map((code) => confirmTotp(user.auth, code)));
  const bodies = answers.map((a) => a.json<{ code: string; attempts_remaining?: number }>());
  const compared = bodies.filter((b) => b.code === 'MFA_CODE_INVALID');
  t.equal(compared.length, 5, 'five compared');
  t.same(compared.map((b) => b.attempts_remaining).sort(), [0, 1, 2, 3, 4], 'each compared code had a try of its own');
  t.equal(bodies.filter((b) => b.code === 'FACTOR_NOT_PENDING').length, 5, 'the other five were refused unread');
  t.same(answers.map((a) => a.statusCode).sort(), [401, 401, 401, 401, 401, 409, 409, 409, 409, 409]);
  t.same(await factorRows(id), [], 'the set-up is over');
  await eventually(async () => (await failedAudits(id)).length >= 5, { message: 'five failures audited' });
  t.equal((await failedAudits(id)).length, 5, 'exactly five audited: five compared');
  assertProblem(t, await confirmTotp(user.auth, totpCode(secret, clock.nowSeconds())), 409, 'FACTOR_NOT_PENDING', 'the right code after');
});
