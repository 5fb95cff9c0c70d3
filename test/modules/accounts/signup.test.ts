import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, login, uniqueEmail, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { countUsers, linkIn, mailsTo, userByEmail, waitForMail } from './support.js';

const PUBLIC_URL = 'https://id.example.test';
const signup = (ctx: TestApp, payload: Record<string, unknown>) => ctx.app.inject({ method: 'POST', url: '/v1/signup', payload });
const verify = (ctx: TestApp, token: string, password = GOOD_PASSWORD) =>
  ctx.app.inject({ method: 'POST', url: '/v1/email/verify', payload: { token, password } });

t.test(
  'signup answers 202 with the same body whether or not the email exists; a verified owner is told, a newcomer gets a verification link',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { TESSERA_PUBLIC_URL: PUBLIC_URL } });
    const email = uniqueEmail('owner');

    const first = await signup(ctx, { email, password: GOOD_PASSWORD, name: 'Owner' });
    t.equal(first.statusCode, 202);
    const confirm = await waitForMail(ctx, email, /confirm your email/i);
    const link = linkIn(confirm.text);
    t.ok(
      link.href.startsWith(`${PUBLIC_URL}/verify-email?token=`),
      `link built from the app URL (TESSERA_PUBLIC_URL by default): ${link.href}`,
    );
    t.ok((link.searchParams.get('token') ?? '').length >= 20, 'the link carries a token');
    t.equal((await verify(ctx, link.searchParams.get('token')!)).statusCode, 200, 'the owner confirms the address');

    const again = await signup(ctx, { email: email.toUpperCase(), password: 'another-long-passphrase', name: 'Intruder' });
    t.equal(again.statusCode, 202);
    t.same(again.json(), first.json(), 'identical body for a taken address');
    t.same(
      Object.keys(again.headers)
        .filter((h) => h !== 'x-request-id' && h !== 'date')
        .sort(),
      Object.keys(first.headers)
        .filter((h) => h !== 'x-request-id' && h !== 'date')
        .sort(),
      'same headers',
    );

    const warning = await waitForMail(ctx, email, /already|tried to sign up/i);
    t.notMatch(warning.text, /Owner|Intruder/, 'no name in the mail: greeted generically');
    t.equal(linkIn(warning.text).href, `${PUBLIC_URL}/forgot-password`, 'its link goes to the app too');
    t.notMatch(warning.text, /verify-email\?token=/, 'no verification link for a taken address');

    t.equal(await countUsers(ctx), 1, 'no second row');
    const row = await userByEmail(ctx, email);
    t.equal(row?.name, 'Owner', 'the existing account is untouched');
    const verifies = (await mailsTo(ctx, email)).filter((m) => /verify-email/.test(m.text));
    t.equal(verifies.length, 1, 'only one verification mail was ever sent');
  },
);

t.test('signup normalises the email: surrounding whitespace and case do not make a new account', async (t) => {
  const ctx = await buildTestApp(t);
  const local = `Mixed.Case-${Date.now()}`;
  const res = await signup(ctx, { email: `  ${local}@Example.COM  `, password: GOOD_PASSWORD, name: 'Mixed' });
  t.equal(res.statusCode, 202, res.body);
  const lower = `${local.toLowerCase()}@example.com`;
  const row = await userByEmail(ctx, lower);
  t.ok(row, 'a row exists');
  t.equal(row?.email_normalized, lower, 'stored lower-cased and trimmed');
  t.equal(row?.email.trim(), row?.email, 'no whitespace kept');

  const dup = await signup(ctx, { email: lower, password: GOOD_PASSWORD, name: 'Dup' });
  t.equal(dup.statusCode, 202);
  t.equal(await countUsers(ctx), 1, 'the lower-case address is the same account');

  // The second signup of the unverified account sent a fresh link, which voided the first.
  await eventually(async () => (await mailsTo(ctx, lower, 0)).filter((m) => /verify-email/.test(m.text)).length === 2);
  const token = await waitForLinkToken(ctx, `${local}@Example.COM`, 'verify-email');
  t.equal((await verify(ctx, token)).statusCode, 200);
  const { res: loginRes } = await login(ctx, ` ${lower.toUpperCase()} `, GOOD_PASSWORD);
  t.equal(loginRes.statusCode, 200, 'login with another spelling of the address works');
});

t.test('the verification link works exactly once', async (t) => {
  const ctx = await buildTestApp(t);
  const email = uniqueEmail();
  await signup(ctx, { email, password: GOOD_PASSWORD, name: 'Once' });
  t.equal((await userByEmail(ctx, email))?.email_verified_at, null, 'unverified at first');
  const token = await waitForLinkToken(ctx, email, 'verify-email');

  const ok = await verify(ctx, token);
  t.equal(ok.statusCode, 200);
  t.equal(ok.json().status, 'accepted');
  const verifiedAt = (await userByEmail(ctx, email))?.email_verified_at;
  t.type(verifiedAt, Date, 'email_verified_at is set');

  const second = await verify(ctx, token);
  assertProblem(t, second, 400, 'INVALID_EMAIL_TOKEN');
  t.same((await userByEmail(ctx, email))?.email_verified_at, verifiedAt, 'unchanged by the second use');

  const forged = await verify(ctx, 'x'.repeat(43));
  assertProblem(t, forged, 400, 'INVALID_EMAIL_TOKEN');
});

t.test(
  'resend answers 202 for unknown and known emails; only an unverified account gets a new link, which voids the old one',
  async (t) => {
    const ctx = await buildTestApp(t);
    const resend = (email: string) => ctx.app.inject({ method: 'POST', url: '/v1/email/verify/resend', payload: { email } });

    const unknown = uniqueEmail('nobody');
    const r1 = await resend(unknown);
    t.equal(r1.statusCode, 202);
    t.same(await mailsTo(ctx, unknown), [], 'no mail to an unknown address');

    const email = uniqueEmail('pending');
    await signup(ctx, { email, password: GOOD_PASSWORD, name: 'Pending' });
    const oldToken = await waitForLinkToken(ctx, email, 'verify-email');
    const r2 = await resend(email);
    t.equal(r2.statusCode, 202);
    t.same(r2.json(), r1.json(), 'same body for a known address');
    // The resent mail goes out after the response: wait for a link that is not the first one.
    const newToken = await eventually(
      async () => {
        const token = await waitForLinkToken(ctx, email, 'verify-email');
        return token !== oldToken && token;
      },
      { timeoutMs: 2000 },
    ).catch(() => oldToken);
    t.not(newToken, oldToken, 'a new link was sent');
    assertProblem(t, await verify(ctx, oldToken), 400, 'INVALID_EMAIL_TOKEN');
    t.equal((await verify(ctx, newToken)).statusCode, 200, 'the new link verifies');

    const before = (await mailsTo(ctx, email, 0)).length;
    const r3 = await resend(email);
    t.equal(r3.statusCode, 202, 'still 202 once verified');
    t.equal((await mailsTo(ctx, email)).length, before, 'no new mail for a verified address');
  },
);

t.test('an unverified email cannot log in by default: 401 INVALID_CREDENTIALS, like a wrong password', async (t) => {
  const ctx = await buildTestApp(t);
  t.equal(ctx.config.requireEmailVerification, true, 'the default requires verification');
  const email = uniqueEmail();
  await signup(ctx, { email, password: GOOD_PASSWORD, name: 'Unverified' });
  const { res } = await login(ctx, email, GOOD_PASSWORD);
  const body = assertProblem(t, res, 401, 'INVALID_CREDENTIALS');
  t.notOk('access_token' in body, 'no tokens');
  const sessions = await ctx.db.selectFrom('sessions').select('id').execute();
  t.equal(sessions.length, 0, 'no session was started');
});

t.test('with REQUIRE_EMAIL_VERIFICATION=false an unverified email logs in', async (t) => {
  const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
  t.equal(ctx.config.requireEmailVerification, false);
  const email = uniqueEmail();
  await signup(ctx, { email, password: GOOD_PASSWORD, name: 'Unverified' });
  const { res, body } = await login(ctx, email, GOOD_PASSWORD);
  t.equal(res.statusCode, 200, res.body);
  t.equal(body.status, 'authenticated');
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.access_token}` } });
  t.equal(me.statusCode, 200);
  t.equal(me.json().email_verified, false, 'the profile still says unverified');
});
