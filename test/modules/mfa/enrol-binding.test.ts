/**
 * A factor set-up belongs to the session that started it (the one that passed step-up). Another
 * session of the same user (a stolen, older aal1 one) can neither confirm an authenticator app or
 * a phone the owner is setting up, nor answer the owner's WebAuthn registration: it gets the answer
 * it would get with no set-up at all, spends nothing of the owner's, and gains no backup codes, no
 * aal2 and no power to sign the owner out. The owner's set-up then completes as if nothing happened.
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, createVerifiedUser, loggedInUser } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem, type Problem } from '../../helpers/problem.js';
import { confirmPhone, enrolPhone, lastCode, PHONE, wrongCode } from '../../helpers/sms-flow.js';
import { manualClock, passwordSession, startTotp, userIdOf, type Bearer } from './flow-support.js';
import { post, registrationOptions, securityKey, WEBAUTHN_ENV } from './webauthn-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, {
  kv: 'memory',
  clock,
  // Many accounts text the same number here; the SMS limits have tests of their own.
  env: { ...WEBAUTHN_ENV, SMS_PER_NUMBER_PER_HOUR: '1000', SMS_PER_USER_PER_HOUR: '1000' },
});

const confirmTotp = (auth: Bearer, payload: Record<string, unknown>) =>
  ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: auth, payload });
const regenerate = (auth: Bearer) => ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).orderBy('id').execute();
const sessionRow = (id: string) =>
  ctx.db.selectFrom('sessions').select(['aal', 'auth_aal', 'revoked_at']).where('id', '=', id).executeTakeFirstOrThrow();
const auditRows = (userId: string, action: string) =>
  ctx.db
    .selectFrom('audit_events')
    .select(['action', 'data', 'target_id'])
    .where('actor_id', '=', userId)
    .where('action', '=', action)
    .execute();

/**
 * The owner and the attacker: two password sessions of one user. The attacker's is the older one,
 * past the five minutes of step-up (it could not start a set-up of its own); the owner's is fresh.
 */
async function ownerAndStolenSession() {
  const user = await createVerifiedUser(ctx);
  const id = await userIdOf(ctx, user.email);
  const stolen = await passwordSession(ctx, user);
  clock.advance(600);
  assertProblem(t, await regenerate(stolen.auth), 403, 'REAUTHENTICATION_REQUIRED', 'the stolen session is past step-up');
  const owner = await passwordSession(ctx, user);
  return { user, id, stolen, owner };
}

/** What a session with no set-up at all is told, to compare the attacker's answer with. */
const comparable = (p: Problem) => ({ status: p.status, code: p.code, detail: p.detail, type: p.type, title: p.title });

t.test('TOTP: another session cannot confirm (not even with the right code); the owner then confirms the same secret', async (t) => {
  const { user, id, stolen, owner } = await ownerAndStolenSession();
  // With no set-up, this is the answer.
  const none = assertProblem(t, await confirmTotp(stolen.auth, { code: '123456' }), 409, 'FACTOR_NOT_PENDING', 'no set-up');

  const { secret, factor_id } = await startTotp(ctx, owner.auth);
  const before = await factorRows(id);
  t.equal(before.length, 1);
  t.equal(before[0]!.enrol_session_id, owner.tokens.session_id, 'the pending row names the session that started it');

  const right = totpCode(secret, clock.nowSeconds());
  for (const [label, payload] of [
    ['a wrong code', { code: right === '000000' ? '000001' : '000000' }],
    ['the right code', { code: right }],
    ['the right code, signing the others out', { code: right, revoke_other_sessions: true }],
  ] as const) {
    const p = assertProblem(t, await confirmTotp(stolen.auth, payload), 409, 'FACTOR_NOT_PENDING', `the stolen session, ${label}`);
    t.same(comparable(p), comparable(none), `${label}: the same answer as no set-up at all`);
    t.notOk('attempts_remaining' in p, `${label}: no count of tries to read`);
  }
  t.same(await factorRows(id), before, 'the pending row is as it was: same secret, no try taken, not confirmed');
  t.same(await auditRows(id, 'mfa.verification_failed'), [], 'nothing was compared, so nothing is audited as a wrong code');
  t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, auth_aal: 1, revoked_at: null }, 'the stolen session gained nothing');
  assertProblem(t, await regenerate(stolen.auth), 403, 'REAUTHENTICATION_REQUIRED', 'and still cannot pass step-up');

  const ok = await confirmTotp(owner.auth, { code: right });
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().factor_id, factor_id, 'the set-up the owner started');
  t.equal(ok.json().backup_codes.length, 10, 'the backup codes go to the owner');
  t.match(await sessionRow(owner.tokens.session_id), { aal: 2, auth_aal: 2, revoked_at: null }, 'the owner session is lifted');
  t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, auth_aal: 1 }, 'the other session is not');
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: owner.auth });
  t.equal(me.statusCode, 200, 'the owner is still signed in');
  t.equal(user.email, me.json().email);
});

t.test(
  'TOTP: a restart from another session that passed step-up replaces the set-up; the first session can no longer confirm',
  async (t) => {
    const user = await createVerifiedUser(ctx);
    const id = await userIdOf(ctx, user.email);
    const first = await passwordSession(ctx, user);
    const second = await passwordSession(ctx, user);
    const a = await startTotp(ctx, first.auth);
    const b = await startTotp(ctx, second.auth);
    t.not(a.secret, b.secret, 'a new secret for the new set-up');
    t.same(
      (await factorRows(id)).map((r) => [r.id, r.enrol_session_id]),
      [[b.factor_id, second.tokens.session_id]],
      'one pending row, the second session',
    );
    const code = totpCode(b.secret, clock.nowSeconds());
    assertProblem(t, await confirmTotp(first.auth, { code }), 409, 'FACTOR_NOT_PENDING', 'the first session');
    const ok = await confirmTotp(second.auth, { code });
    t.equal(ok.statusCode, 200, ok.body);
  },
);

t.test(
  'SMS: another session cannot confirm and spends neither the code nor a try; the owner then confirms with the same code',
  async (t) => {
    const { id, stolen, owner } = await ownerAndStolenSession();
    const none = assertProblem(t, await confirmPhone(ctx, stolen.auth, '123456'), 409, 'FACTOR_NOT_PENDING', 'no set-up');

    const enrol = await enrolPhone(ctx, owner.auth);
    t.equal(enrol.statusCode, 200, enrol.body);
    const code = lastCode(ctx);
    const before = await factorRows(id);
    t.equal(before[0]!.enrol_session_id, owner.tokens.session_id, 'the pending row names the session that started it');
    const texts = ctx.sms.sent.length;

    const right = await confirmPhone(ctx, stolen.auth, code, { revoke_other_sessions: true });
    t.same(comparable(assertProblem(t, right, 409, 'FACTOR_NOT_PENDING', 'the stolen session, right code')), comparable(none));
    for (let i = 0; i < 6; i++) {
      const wrong = await confirmPhone(ctx, stolen.auth, wrongCode(code));
      t.same(comparable(assertProblem(t, wrong, 409, 'FACTOR_NOT_PENDING', `the stolen session, wrong code ${i + 1}`)), comparable(none));
    }
    t.same(await factorRows(id), before, 'the pending row is as it was');
    t.equal(ctx.sms.sent.length, texts, 'no text sent');
    t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, auth_aal: 1, revoked_at: null }, 'the stolen session gained nothing');

    // Six refusals later, the owner still has all five tries: one wrong code leaves four.
    const ownWrong = await confirmPhone(ctx, owner.auth, wrongCode(code));
    t.equal(assertProblem(t, ownWrong, 401, 'MFA_CODE_INVALID', "the owner's own wrong code").attempts_remaining, 4);
    const failed = await eventually(async () => {
      const rows = await auditRows(id, 'mfa.verification_failed');
      return rows.length === 1 && rows;
    });
    t.same(failed[0]!.data, { method: 'sms', purpose: 'enrol' }, "the owner's wrong code is audited, without the code");

    const ok = await confirmPhone(ctx, owner.auth, code);
    t.equal(ok.statusCode, 200, `the texted code still works for the owner: ${ok.body}`);
    t.equal(ok.json().factor_id, enrol.json().factor_id);
    t.equal(ok.json().backup_codes.length, 10);
    t.match(await sessionRow(owner.tokens.session_id), { aal: 2, auth_aal: 2, revoked_at: null }, 'the owner session is lifted');
    t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, revoked_at: null }, 'the other session is not');
  },
);

t.test('SMS: the same number from another session that passed step-up is a new enrolment, not a resend of the first', async (t) => {
  const user = await createVerifiedUser(ctx);
  const first = await passwordSession(ctx, user);
  const second = await passwordSession(ctx, user);
  const a = await enrolPhone(ctx, first.auth);
  const firstCode = lastCode(ctx);
  const b = await enrolPhone(ctx, second.auth, PHONE);
  t.equal(b.statusCode, 200, b.body);
  t.not(b.json().factor_id, a.json().factor_id, 'a new enrolment');
  assertProblem(t, await confirmPhone(ctx, first.auth, firstCode), 409, 'FACTOR_NOT_PENDING', 'the first session');
  const ok = await confirmPhone(ctx, second.auth, lastCode(ctx));
  t.equal(ok.statusCode, 200, ok.body);
});

t.test("WebAuthn: another session finds no ceremony (even answering the owner's options); the owner's ceremony still works", async (t) => {
  const { id, stolen, owner } = await ownerAndStolenSession();
  const register = (auth: Bearer, response: unknown, extra: Record<string, unknown> = {}) =>
    post(ctx, '/v1/me/webauthn/registration', { response, ...extra }, auth);
  const ownerOptions = await registrationOptions(ctx, owner.auth);
  // The attacker's own authenticator, answering the owner's options (the worst case: it read them).
  const forged = securityKey().register(ownerOptions as never);
  // A session with no registration under way is told this.
  const bystander = await loggedInUser(ctx);
  const none = comparable(assertProblem(t, await register(bystander.auth, forged), 409, 'FACTOR_NOT_PENDING', 'no ceremony'));

  const answer = await register(stolen.auth, forged, { revoke_other_sessions: true });
  t.same(comparable(assertProblem(t, answer, 409, 'FACTOR_NOT_PENDING', "the stolen session answers the owner's options")), none);
  t.same(await factorRows(id), [], 'no credential written');
  t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, auth_aal: 1, revoked_at: null }, 'the stolen session gained nothing');

  const ownerKey = securityKey();
  const ok = await register(owner.auth, ownerKey.register(ownerOptions as never));
  t.equal(ok.statusCode, 200, `the owner's ceremony was not taken: ${ok.body}`);
  t.equal(ok.json().backup_codes.length, 10);
  t.same(
    (await factorRows(id)).map((r) => [r.kind, r.confirmed_at !== null]),
    [['webauthn', true]],
    "the owner's key, and no other",
  );
  t.match(await sessionRow(owner.tokens.session_id), { aal: 2, auth_aal: 2, revoked_at: null }, 'the owner session is lifted');
  t.match(await sessionRow(stolen.tokens.session_id), { aal: 1, revoked_at: null }, 'the other session is not');
});
