import t from 'tap';
import { offsetClock } from '../../../src/infra/clock.js';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, login, uniqueEmail, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { linkIn, mailsTo, userByEmail, waitForMail } from './support.js';
import { refresh } from '../tokens/forge.js';

const PUBLIC_URL = 'https://id.example.test';
const NEW_PASSWORD = 'juniper-orbit-canvas-19';

const forgot = (ctx: TestApp, email: string) => ctx.app.inject({ method: 'POST', url: '/v1/password/forgot', payload: { email } });
const reset = (ctx: TestApp, token: string, password: string) =>
  ctx.app.inject({ method: 'POST', url: '/v1/password/reset', payload: { token, password } });

t.test(
  'forgot answers 202 with the same body for unknown, unverified and verified emails; both accounts get a reset link, no name in it',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { TESSERA_PUBLIC_URL: PUBLIC_URL } });
    const unknown = uniqueEmail('unknown');
    const unverified = uniqueEmail('unverified');
    await ctx.app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: { email: unverified, password: GOOD_PASSWORD, name: 'Unverified' },
    });
    const verified = await createVerifiedUser(ctx);

    const answers = [];
    for (const email of [unknown, unverified, verified.email]) {
      const res = await forgot(ctx, email);
      t.equal(res.statusCode, 202, email);
      answers.push(res.json());
    }
    t.same(answers[0], answers[1]);
    t.same(answers[1], answers[2], 'the same body every time');

    t.same(await mailsTo(ctx, unknown), [], 'nothing sent to an unknown address');
    const toUnverified = await waitForMail(ctx, unverified, /reset your password/i);
    t.match(toUnverified.text, /reset-password\?token=/, 'an unverified account gets a reset link too (it goes to the mailbox)');
    const mail = await waitForMail(ctx, verified.email, /reset your password/i);
    const link = linkIn(mail.text);
    t.ok(
      link.href.startsWith(`${PUBLIC_URL}/reset-password?token=`),
      `link from the app URL (TESSERA_PUBLIC_URL by default): ${link.href}`,
    );
    t.notMatch(mail.text, /Test User/, 'no name in the mail');
    const rows = await ctx.db
      .selectFrom('email_tokens')
      .select(['purpose', 'expires_at'])
      .where('purpose', '=', 'reset_password')
      .execute();
    t.equal(rows.length, 2, 'one reset token stored (hashed) per account');
    for (const row of rows) {
      const ttl = row.expires_at.getTime() - Date.now();
      t.ok(ttl > 29 * 60_000 && ttl <= 30 * 60_000 + 1000, `it lives 30 minutes (${Math.round(ttl / 1000)} s)`);
    }
  },
);

t.test('reset sets the password, revokes every session and the token works once', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const userId = (await userByEmail(ctx, user.email))!.id;
  const a = await login(ctx, user.email, user.password);
  const b = await login(ctx, user.email, user.password);
  t.equal((await forgot(ctx, user.email)).statusCode, 202);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');

  const res = await reset(ctx, token, NEW_PASSWORD);
  t.equal(res.statusCode, 200, res.body);

  const sessions = await ctx.db
    .selectFrom('sessions')
    .select(['id', 'revoked_at', 'revoked_reason'])
    .where('user_id', '=', userId)
    .execute();
  t.equal(sessions.length, 2);
  for (const s of sessions) {
    t.type(s.revoked_at, Date, `session ${s.id} revoked_at is set`);
    t.equal(s.revoked_reason, 'password_reset');
  }
  for (const pair of [a.body, b.body]) {
    assertProblem(
      t,
      await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${pair.access_token}` } }),
      401,
      'SESSION_REVOKED',
    );
    assertProblem(t, (await refresh(ctx, pair.refresh_token)).res, 400, 'INVALID_GRANT');
  }

  assertProblem(t, (await login(ctx, user.email, user.password)).res, 401, 'INVALID_CREDENTIALS');
  t.equal((await login(ctx, user.email, NEW_PASSWORD)).res.statusCode, 200, 'the new password logs in');

  const hashAfter = (await userByEmail(ctx, user.email))!.password_hash;
  const again = await reset(ctx, token, 'a-different-fine-passphrase');
  assertProblem(t, again, 400, 'INVALID_EMAIL_TOKEN');
  t.equal((await userByEmail(ctx, user.email))!.password_hash, hashAfter, 'the second use changed nothing');
});

t.test('a reset token expires after 30 minutes: 400 INVALID_EMAIL_TOKEN at 31 minutes', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await createVerifiedUser(ctx);
  await forgot(ctx, user.email);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  const before = (await userByEmail(ctx, user.email))!.password_hash;
  clock.advance(31 * 60_000);
  assertProblem(t, await reset(ctx, token, NEW_PASSWORD), 400, 'INVALID_EMAIL_TOKEN');
  t.equal((await userByEmail(ctx, user.email))!.password_hash, before, 'password unchanged');
  t.equal((await login(ctx, user.email, user.password)).res.statusCode, 200, 'the old password still works');
});

t.test('a reset token is still good at 29 minutes', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  const user = await createVerifiedUser(ctx);
  await forgot(ctx, user.email);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  clock.advance(29 * 60_000);
  t.equal((await reset(ctx, token, NEW_PASSWORD)).statusCode, 200);
});

t.test('a rejected weak password does not burn the reset token', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { body: session } = await login(ctx, user.email, user.password);
  await forgot(ctx, user.email);
  const token = await waitForLinkToken(ctx, user.email, 'reset-password');
  const before = (await userByEmail(ctx, user.email))!.password_hash;

  const short = assertProblem(t, await reset(ctx, token, 'abc123'), 422, 'PASSWORD_TOO_SHORT');
  t.match(short.detail, /8/);
  const common = assertProblem(t, await reset(ctx, token, 'qwertyuiop'), 422, 'PASSWORD_TOO_COMMON');
  t.match(common.detail, /common/);
  t.equal((await userByEmail(ctx, user.email))!.password_hash, before, 'password unchanged');
  t.equal(
    (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${session.access_token}` } })).statusCode,
    200,
    'sessions untouched',
  );

  t.equal((await reset(ctx, token, NEW_PASSWORD)).statusCode, 200, 'the same token then works');
  t.equal((await login(ctx, user.email, NEW_PASSWORD)).res.statusCode, 200);
});
