import t from 'tap';
import { ConfigError, loadConfig } from '../../../src/config.js';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, uniqueEmail, type TestApp } from '../../helpers/app.js';
import { linkIn, waitForMail } from './support.js';

/** Links in emails open the frontend (TESSERA_APP_URL and its paths), never the API host. */

const APP_URL = 'https://app.example.test/account';
const APP_ENV = {
  TESSERA_PUBLIC_URL: 'https://id.example.test',
  TESSERA_APP_URL: `${APP_URL}/`,
  APP_VERIFY_EMAIL_PATH: '/confirm',
  APP_RESET_PASSWORD_PATH: '/password/new',
  APP_FORGOT_PASSWORD_PATH: '/password/forgot',
};

const post = (ctx: TestApp, url: string, payload: Record<string, unknown>) => ctx.app.inject({ method: 'POST', url, payload });

t.test('verification, reset and "already registered" mails link to the app URL and its configured paths', async (t) => {
  const ctx = await buildTestApp(t, { env: APP_ENV });

  const email = uniqueEmail('links');
  t.equal((await post(ctx, '/v1/signup', { email, password: GOOD_PASSWORD, name: 'Links' })).statusCode, 202);
  const verifyLink = linkIn((await waitForMail(ctx, email, /confirm your email/i)).text);
  t.equal(`${verifyLink.origin}${verifyLink.pathname}`, `${APP_URL}/confirm`, `verification link: ${verifyLink.href}`);
  const token = verifyLink.searchParams.get('token');
  t.ok(token && token.length >= 20, 'the token is the ?token= query parameter');
  t.equal([...verifyLink.searchParams.keys()].join(','), 'token', 'and the only one');
  t.equal((await post(ctx, '/v1/email/verify', { token, password: GOOD_PASSWORD })).statusCode, 200, 'the token verifies');

  t.equal((await post(ctx, '/v1/password/forgot', { email })).statusCode, 202);
  const resetLink = linkIn((await waitForMail(ctx, email, /reset your password/i)).text);
  t.equal(`${resetLink.origin}${resetLink.pathname}`, `${APP_URL}/password/new`, `reset link: ${resetLink.href}`);
  const reset = await post(ctx, '/v1/password/reset', { token: resetLink.searchParams.get('token'), password: 'a-new-fine-passphrase-8' });
  t.equal(reset.statusCode, 200, 'the token resets');

  t.equal((await post(ctx, '/v1/signup', { email, password: GOOD_PASSWORD, name: 'Again' })).statusCode, 202);
  const forgotLink = linkIn((await waitForMail(ctx, email, /tried to sign up/i)).text);
  t.equal(forgotLink.href, `${APP_URL}/password/forgot`, 'the "already registered" mail points at the app\'s forgot page');

  for (const m of ctx.mail.sent) t.notMatch(m.text, /id\.example\.test/, `no link to the API host in "${m.subject}"`);
});

t.test('TESSERA_APP_URL defaults to the public URL; the paths have defaults and must be plain paths', async (t) => {
  const c = loadConfig({ TESSERA_PUBLIC_URL: 'https://id.example.test/' });
  t.same(c.appLinks, {
    appUrl: 'https://id.example.test',
    verifyEmailPath: '/verify-email',
    resetPasswordPath: '/reset-password',
    forgotPasswordPath: '/forgot-password',
    invitationPath: '/accept-invitation',
  });
  t.equal(loadConfig({ TESSERA_APP_URL: 'https://app.example.test/' }).appLinks.appUrl, 'https://app.example.test');
  t.equal(loadConfig({ APP_INVITATION_PATH: '/join' }).appLinks.invitationPath, '/join');
  const err = t.throws(() =>
    loadConfig({ TESSERA_APP_URL: 'https://app.example.test/?x=1', APP_VERIFY_EMAIL_PATH: 'verify', APP_RESET_PASSWORD_PATH: '/r?token=' }),
  ) as Error;
  t.ok(err instanceof ConfigError);
  for (const name of ['TESSERA_APP_URL', 'APP_VERIFY_EMAIL_PATH', 'APP_RESET_PASSWORD_PATH']) t.match(err.message, name);
});

t.test('query strings never reach the request log, so a token in a link is not logged', async (t) => {
  const ctx = await buildTestApp(t, { env: { LOG_LEVEL: 'trace' } });
  const user = await createVerifiedUser(ctx);
  const secrets = ['secret-in-query-one-1234', 'secret-in-query-two-5678', 'secret-in-query-three-9012'];

  await ctx.app.inject({ method: 'GET', url: `/healthz?token=${secrets[0]}` });
  await ctx.app.inject({ method: 'POST', url: `/v1/password/forgot?token=${secrets[1]}`, payload: { email: user.email } });
  await ctx.app.inject({ method: 'GET', url: `/no-such-page?token=${secrets[2]}&x=1` });

  const out = ctx.logs.join('');
  const incoming = ctx.logs
    .map((l) => JSON.parse(l) as { msg?: string; req?: { url?: string } })
    .filter((l) => l.msg === 'incoming request');
  t.ok(incoming.length >= 3, 'requests were logged');
  t.ok(
    incoming.some((l) => l.req?.url === '/healthz'),
    'the path is still logged, without its query',
  );
  t.ok(
    incoming.some((l) => l.req?.url === '/v1/password/forgot'),
    'the path of a POST too',
  );
  for (const secret of secrets) t.notOk(out.includes(secret), `${secret} is absent from the logs`);
  t.notMatch(out, /token=/, 'no query string at all');
});
