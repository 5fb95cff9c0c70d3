import t from 'tap';
import { offsetClock } from '../../../src/infra/clock.js';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, uniqueEmail, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { countUsers, mailsTo, userByEmail, waitForMail } from './support.js';

/**
 * Tessera must not be a way to flood someone's mailbox, nor to put a stranger's words into it:
 * mail sent to an address because someone typed it is limited per address, and carries no name.
 */

const post = (ctx: TestApp, url: string, payload: Record<string, unknown>) => ctx.app.inject({ method: 'POST', url, payload });
const comparable = (res: Awaited<ReturnType<typeof post>>) => ({
  status: res.statusCode,
  body: res.json(),
  headers: Object.keys(res.headers)
    .filter((h) => h !== 'x-request-id' && h !== 'date')
    .sort(),
});

t.test('signup, resend and forgot send at most MAIL_PER_ADDRESS_PER_HOUR mails an hour to one address, answering the same', async (t) => {
  const clock = offsetClock();
  const ctx = await buildTestApp(t, { clock });
  t.equal(ctx.config.mailPerAddressPerHour, 3, 'the default is 3 an hour');
  const victim = uniqueEmail('victim');

  const answers: Record<string, Array<ReturnType<typeof comparable>>> = { signup: [], resend: [], forgot: [] };
  const send = async (what: 'signup' | 'resend' | 'forgot', email: string) => {
    const res =
      what === 'signup'
        ? await post(ctx, '/v1/signup', { email, password: GOOD_PASSWORD, name: 'Flood' })
        : await post(ctx, what === 'resend' ? '/v1/email/verify/resend' : '/v1/password/forgot', { email });
    answers[what]!.push(comparable(res));
  };
  await send('signup', victim);
  await send('signup', victim);
  await send('resend', victim);
  for (let i = 0; i < 4; i++) {
    await send('resend', victim.toUpperCase());
    await send('forgot', ` ${victim} `);
    await send('signup', victim);
  }
  for (const [what, list] of Object.entries(answers)) {
    t.equal(list[0]!.status, 202, `${what} answers 202`);
    for (const r of list) t.same(r, list[0], `${what}: the same answer whether or not a mail went out`);
  }
  const requests = Object.values(answers).flat().length;

  const sent = await mailsTo(ctx, victim, 300);
  t.equal(sent.length, 3, `3 mails for ${requests} requests (got ${sent.length})`);

  // Another address is counted on its own.
  const other = uniqueEmail('other');
  await post(ctx, '/v1/signup', { email: other, password: GOOD_PASSWORD, name: 'Other' });
  await waitForMail(ctx, other, /confirm your email/i);

  // A link that did go out still works: held-back requests issued no link. (Links are issued
  // after the response, concurrently, so which of the mailed ones is newest is not fixed: each
  // new link voids the older ones of its kind.)
  let working = 0;
  for (const mail of sent) {
    const token = new URL(mail.text.match(/https?:\/\/\S+/)![0]).searchParams.get('token')!;
    const purpose = mail.text.includes('/verify-email?') ? '/v1/email/verify' : '/v1/password/reset';
    if ((await post(ctx, purpose, { token, password: 'the-owners-passphrase-4' })).statusCode === 200) working++;
  }
  t.ok(working >= 1, `a mailed link works (${working} of ${sent.length})`);

  clock.advance(61 * 60_000);
  t.equal((await post(ctx, '/v1/password/forgot', { email: victim })).statusCode, 202);
  await waitForMail(ctx, victim, /reset your password/i);
  t.equal((await mailsTo(ctx, victim, 0)).length, 4, 'an hour later mail flows again');
});

t.test('MAIL_PER_ADDRESS_PER_HOUR sets the allowance', async (t) => {
  const ctx = await buildTestApp(t, { env: { MAIL_PER_ADDRESS_PER_HOUR: '1' } });
  const user = await createVerifiedUser(ctx); // the verification mail is this hour's one
  t.equal((await post(ctx, '/v1/password/forgot', { email: user.email })).statusCode, 202);
  t.equal((await mailsTo(ctx, user.email, 300)).length, 1, 'no second mail this hour');
});

t.test('no name typed at signup is put into a mail to the address', async (t) => {
  const ctx = await buildTestApp(t);
  const bait = 'Your account is locked; call +1 555 0100';
  const email = uniqueEmail('named');

  await post(ctx, '/v1/signup', { email, password: GOOD_PASSWORD, name: bait });
  const verify = await waitForMail(ctx, email, /confirm your email/i);
  t.notMatch(verify.text, bait, 'the verification mail does not carry the name');
  t.match(verify.text, /^Hello,/, 'it greets generically');

  await post(ctx, '/v1/password/forgot', { email });
  const reset = await waitForMail(ctx, email, /reset your password/i);
  t.notMatch(reset.text, bait, 'the reset mail does not carry the name');

  const owner = await createVerifiedUser(ctx, { name: 'Owner Name' });
  await post(ctx, '/v1/signup', { email: owner.email, password: GOOD_PASSWORD, name: bait });
  const warning = await waitForMail(ctx, owner.email, /tried to sign up/i);
  t.notMatch(warning.text, bait, "the 'already registered' mail does not carry the newcomer's name");
  t.notMatch(warning.text, 'Owner Name', 'nor the account name');
  t.match(warning.text, /^Hello,/, 'it greets generically');
});

t.test('names with control or text-direction characters are refused: 400 VALIDATION_FAILED', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx, { name: 'Plain Name' });
  const { body } = await ctx.app
    .inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: user.password } })
    .then((r) => ({ body: r.json() }));
  const auth = { authorization: `Bearer ${body.access_token}` };
  const before = await countUsers(ctx);
  const bad = {
    'RIGHT-TO-LEFT OVERRIDE': 'Ann\u202Egnp.exe',
    'LEFT-TO-RIGHT EMBEDDING': 'Ann\u202Ax',
    'POP DIRECTIONAL FORMATTING': 'Ann\u202Cx',
    'RIGHT-TO-LEFT ISOLATE': 'Ann\u2067x',
    'POP DIRECTIONAL ISOLATE': 'Ann\u2069x',
    'LEFT-TO-RIGHT MARK': 'Ann\u200Ex',
    'RIGHT-TO-LEFT MARK': 'Ann\u200Fx',
    'C1 NEXT LINE': 'Ann\u0085x',
    'C1 CSI': 'Ann\u009Bx',
    'C0 ESC': 'Ann\u001B[31mx',
    DEL: 'Ann\u007Fx',
  };
  for (const [what, name] of Object.entries(bad)) {
    const email = uniqueEmail('bidi');
    const signup = await post(ctx, '/v1/signup', { email, password: GOOD_PASSWORD, name });
    const problem = assertProblem(t, signup, 400, 'VALIDATION_FAILED', `signup, ${what}`);
    t.match(problem.errors, [{ field: 'name' }], `${what}: the name is the field at fault`);
    const patch = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: auth, payload: { name } });
    assertProblem(t, patch, 400, 'VALIDATION_FAILED', `profile, ${what}`);
  }
  t.equal(await countUsers(ctx), before, 'no account was created');
  t.equal((await userByEmail(ctx, user.email))?.name, 'Plain Name', 'the profile name is unchanged');

  const fine = await post(ctx, '/v1/signup', { email: uniqueEmail('intl'), password: GOOD_PASSWORD, name: 'Zoë Ærøskøbing-محمد 李' });
  t.equal(fine.statusCode, 202, 'letters of any script are fine');
});
