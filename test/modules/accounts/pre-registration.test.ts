import t, { type Test } from 'tap';
import { buildTestApp, login, uniqueEmail, waitForLinkToken, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import { userByEmail } from './support.js';

/**
 * Pre-registration takeover: someone signs up with an address that is not theirs, with a
 * password of their choosing. Whatever the address's owner then does, once they have proved
 * the mailbox the attacker's password must not log in and the owner's must.
 */

const ATTACKER_PASSWORD = 'attacker-chosen-secret-77';
const OWNER_PASSWORD = 'owners-own-passphrase-31';

const post = (ctx: TestApp, url: string, payload: Record<string, unknown>) => ctx.app.inject({ method: 'POST', url, payload });
const verify = (ctx: TestApp, token: string, password: string) => post(ctx, '/v1/email/verify', { token, password });

/** The attacker signs up with the victim's address; the link that signup sends lands in the victim's mailbox. */
async function attackerPreRegisters(ctx: TestApp) {
  const email = uniqueEmail('victim');
  const res = await post(ctx, '/v1/signup', { email, password: ATTACKER_PASSWORD, name: 'Attacker' });
  if (res.statusCode !== 202) throw new Error(`signup failed: ${res.body}`);
  const attackersLink = await waitForLinkToken(ctx, email, 'verify-email');
  const row = (await userByEmail(ctx, email))!;
  return { email, attackersLink, hashBefore: row.password_hash };
}

/** The newest link of this kind in the mailbox once a new one has arrived (or the old one, if none comes). */
async function freshLink(ctx: TestApp, email: string, path: string, previous: string) {
  return eventually(
    async () => {
      const token = await waitForLinkToken(ctx, email, path);
      return token !== previous && token;
    },
    { timeoutMs: 1000 },
  ).catch(() => previous);
}

async function assertOwnerHoldsTheAccount(t: Test, ctx: TestApp, email: string) {
  assertProblem(t, (await login(ctx, email, ATTACKER_PASSWORD)).res, 401, 'INVALID_CREDENTIALS', "the attacker's password");
  const owner = await login(ctx, email, OWNER_PASSWORD);
  t.equal(owner.res.statusCode, 200, `the owner's password logs in (${owner.res.body.slice(0, 120)})`);
  const row = await userByEmail(ctx, email);
  t.type(row?.email_verified_at, Date, 'the address is verified');
}

t.test("the owner signs up again: a fresh verification link comes, and following it sets the owner's password", async (t) => {
  const ctx = await buildTestApp(t);
  const { email, attackersLink, hashBefore } = await attackerPreRegisters(ctx);

  const again = await post(ctx, '/v1/signup', { email, password: OWNER_PASSWORD, name: 'Owner' });
  t.equal(again.statusCode, 202);
  const link = await freshLink(ctx, email, 'verify-email', attackersLink);
  t.not(link, attackersLink, 'the owner gets a fresh verification link, not an "already registered" mail');
  const pending = await userByEmail(ctx, email);
  t.equal(pending?.password_hash, hashBefore, 'nothing stored changes before the address is proven');
  t.equal(pending?.email_verified_at, null, 'still unverified');

  const res = await verify(ctx, link, OWNER_PASSWORD);
  t.equal(res.statusCode, 200, res.body);
  await assertOwnerHoldsTheAccount(t, ctx, email);
});

t.test("the owner asks for a new verification link: following it sets the owner's password", async (t) => {
  const ctx = await buildTestApp(t);
  const { email, attackersLink } = await attackerPreRegisters(ctx);

  t.equal((await post(ctx, '/v1/email/verify/resend', { email })).statusCode, 202);
  const link = await freshLink(ctx, email, 'verify-email', attackersLink);
  t.not(link, attackersLink, 'a new link was sent');
  const res = await verify(ctx, link, OWNER_PASSWORD);
  t.equal(res.statusCode, 200, res.body);
  await assertOwnerHoldsTheAccount(t, ctx, email);
});

t.test('the owner resets the password of the unverified account: the reset also verifies the address', async (t) => {
  const ctx = await buildTestApp(t);
  const { email, attackersLink } = await attackerPreRegisters(ctx);

  t.equal((await post(ctx, '/v1/password/forgot', { email })).statusCode, 202);
  const token = await waitForLinkToken(ctx, email, 'reset-password');
  const res = await post(ctx, '/v1/password/reset', { token, password: OWNER_PASSWORD });
  t.equal(res.statusCode, 200, res.body);
  await assertOwnerHoldsTheAccount(t, ctx, email);

  const { body } = await login(ctx, email, OWNER_PASSWORD);
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.access_token}` } });
  t.equal(me.json().email_verified, true, 'the profile says verified');
  // The link the attacker's signup sent is void: it cannot set yet another password now.
  assertProblem(t, await verify(ctx, attackersLink, 'yet-another-passphrase-5'), 400, 'INVALID_EMAIL_TOKEN', 'earlier link');
  t.equal((await login(ctx, email, OWNER_PASSWORD)).res.statusCode, 200, 'the reset password still logs in');
});

t.test("the owner clicks the link the attacker's signup sent: the password typed there is the one in force", async (t) => {
  const ctx = await buildTestApp(t);
  const { email, attackersLink } = await attackerPreRegisters(ctx);

  const res = await verify(ctx, attackersLink, OWNER_PASSWORD);
  t.equal(res.statusCode, 200, res.body);
  await assertOwnerHoldsTheAccount(t, ctx, email);
});

t.test("when login does not require verification, the attacker's session ends too when the owner verifies", async (t) => {
  const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
  const { email, attackersLink } = await attackerPreRegisters(ctx);
  const attacker = await login(ctx, email, ATTACKER_PASSWORD);
  t.equal(attacker.res.statusCode, 200, 'the attacker is in before the owner verifies');

  t.equal((await verify(ctx, attackersLink, OWNER_PASSWORD)).statusCode, 200);
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${attacker.body.access_token}` } });
  assertProblem(t, me, 401, 'SESSION_REVOKED', "the attacker's session");
  await assertOwnerHoldsTheAccount(t, ctx, email);
});

t.test('verification needs a password; a rejected one does not burn the link', async (t) => {
  const ctx = await buildTestApp(t);
  const { email, attackersLink, hashBefore } = await attackerPreRegisters(ctx);

  const bare = await post(ctx, '/v1/email/verify', { token: attackersLink });
  const problem = assertProblem(t, bare, 400, 'VALIDATION_FAILED', 'no password');
  t.match(problem.errors, [{ field: 'password' }]);
  assertProblem(t, await verify(ctx, attackersLink, 'abc123'), 422, 'PASSWORD_TOO_SHORT', 'short password');
  assertProblem(t, await verify(ctx, attackersLink, 'qwertyuiop'), 422, 'PASSWORD_TOO_COMMON', 'common password');
  const row = await userByEmail(ctx, email);
  t.equal(row?.email_verified_at, null, 'still unverified');
  t.equal(row?.password_hash, hashBefore, 'password unchanged');

  t.equal((await verify(ctx, attackersLink, OWNER_PASSWORD)).statusCode, 200, 'the same link then works');
  await assertOwnerHoldsTheAccount(t, ctx, email);
});
