/**
 * Setting up a factor is step-up (a stolen session must not lock the owner out with a factor of
 * its own), and confirming one makes the confirming session fresh at aal 2 (it has just proved
 * the factor), while the user's other sessions stay what they were.
 */
import t, { type Test } from 'tap';
import type { InjectOptions } from 'fastify';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { confirmPhone, enrolPhone, lastCode, PHONE } from '../../helpers/sms-flow.js';
import { decode, refresh } from '../tokens/forge.js';
import {
  bearer,
  manualClock,
  nextTotp,
  passwordSession,
  reauthenticate,
  startTotp,
  userIdOf,
  userWithTotpAndEarlierSession,
  type Bearer,
} from './flow-support.js';
import { register, securityKey, syncedPasskeyProvider, WEBAUTHN_ENV } from './webauthn-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, {
  kv: 'memory',
  clock,
  // Many accounts text the same number here; the SMS limits have tests of their own.
  env: { ...WEBAUTHN_ENV, SMS_PER_NUMBER_PER_HOUR: '1000', SMS_PER_USER_PER_HOUR: '1000' },
});

/** The three routes that start setting up a factor, as a client calls them. */
const SET_UP = [
  ['POST /v1/me/mfa/totp', { method: 'POST', url: '/v1/me/mfa/totp' }],
  ['POST /v1/me/mfa/sms', { method: 'POST', url: '/v1/me/mfa/sms', payload: { phone: PHONE } }],
  ['POST /v1/me/webauthn/registration/options', { method: 'POST', url: '/v1/me/webauthn/registration/options', payload: {} }],
] as const;

const setUp = (auth: Bearer, request: (typeof SET_UP)[number][1]) => ctx.app.inject({ ...request, headers: auth } as InjectOptions);
const factorRows = (userId: string) =>
  ctx.db.selectFrom('mfa_factors').select(['id', 'kind', 'confirmed_at']).where('user_id', '=', userId).orderBy('id').execute();
const sessionRow = (id: string) =>
  ctx.db.selectFrom('sessions').select(['aal', 'auth_aal', 'auth_at', 'amr']).where('id', '=', id).executeTakeFirstOrThrow();
const regenerate = (auth: Bearer) => ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/backup-codes', headers: auth });

/** Each set-up route answers 403 with what it takes, writes no factor and sends no text. */
async function allRefused(t: Test, auth: Bearer, userId: string, expected: { required_aal: number; methods: string[] }, label: string) {
  const rowsBefore = await factorRows(userId);
  const textsBefore = ctx.sms.sent.length;
  for (const [name, request] of SET_UP) {
    const body = assertProblem(t, await setUp(auth, request), 403, 'REAUTHENTICATION_REQUIRED', `${label}: ${name}`);
    t.same({ required_aal: body.required_aal, methods: body.methods }, expected, `${label}: ${name} says what it takes`);
  }
  t.same(await factorRows(userId), rowsBefore, `${label}: no factor written`);
  t.equal(ctx.sms.sent.length, textsBefore, `${label}: no text sent`);
}

t.test('without a factor: each set-up route needs a password login from the last five minutes', async (t) => {
  for (const [name, request] of SET_UP) {
    // Just inside the window, the guard lets the set-up through.
    const recent = await loggedInUser(ctx);
    clock.advance(299);
    const within = await setUp(recent.auth, request);
    t.equal(within.statusCode, 200, `${name}, 4 min 59 s after the login: ${within.body.slice(0, 120)}`);
  }

  const user = await loggedInUser(ctx);
  const id = await userIdOf(ctx, user.email);
  clock.advance(301);
  await allRefused(t, user.auth, id, { required_aal: 1, methods: ['password'] }, '5 min 1 s after the login');

  const wrong = await reauthenticate(ctx, user.auth, { password: 'not-the-password-1' });
  assertProblem(t, wrong, 403, 'INVALID_PASSWORD');
  await allRefused(t, user.auth, id, { required_aal: 1, methods: ['password'] }, 'after a wrong password');

  const ok = await reauthenticate(ctx, user.auth, { password: user.password });
  t.equal(ok.statusCode, 200, ok.body);
  t.equal(ok.json().aal, 1);
  for (const [name, request] of SET_UP) {
    const res = await setUp(user.auth, request);
    t.equal(res.statusCode, 200, `${name} after the password again: ${res.body.slice(0, 120)}`);
  }
  t.same(
    (await factorRows(id)).map((r) => [r.kind, r.confirmed_at]).sort(),
    [
      ['sms', null],
      ['totp', null],
    ],
    'an app and a phone pending (a key is pending in the KV store until its answer)',
  );
});

t.test('with a factor: setting up another needs aal2 from the last five minutes', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  const WITH_FACTOR = { required_aal: 2, methods: ['totp', 'backup_code'] };

  // A password session opened moments ago, before the app was on: recent, but aal1.
  await allRefused(t, user.earlier.auth, user.id, WITH_FACTOR, 'an aal1 session');
  // The password does not lift it (it is not even checked) ...
  const password = await reauthenticate(ctx, user.earlier.auth, { password: user.password });
  t.match(assertProblem(t, password, 403, 'REAUTHENTICATION_REQUIRED', 'password reauthentication'), WITH_FACTOR);
  await allRefused(t, user.earlier.auth, user.id, WITH_FACTOR, 'after a password reauthentication');

  // The session that confirmed the app is aal2, but only for five minutes.
  clock.advance(301);
  await allRefused(t, user.auth, user.id, WITH_FACTOR, 'aal2 but 5 min 1 s old');

  // ... a code does, for either session.
  for (const [label, auth] of [
    ['the aal1 session', user.earlier.auth],
    ['the stale aal2 session', user.auth],
  ] as const) {
    const ok = await reauthenticate(ctx, auth, { method: 'totp', code: nextTotp(user.secret, clock) });
    t.equal(ok.statusCode, 200, `${label}: ${ok.body}`);
    t.equal(ok.json().aal, 2);
  }
  const [totp, sms, webauthn] = SET_UP.map(([, request]) => request);
  // Past the guard, the app route gives its own answer: one app per account.
  assertProblem(t, await setUp(user.earlier.auth, totp), 409, 'FACTOR_ALREADY_ENROLLED', 'a second app');
  const phone = await setUp(user.earlier.auth, sms);
  t.equal(phone.statusCode, 200, phone.body);
  const key = await setUp(user.auth, webauthn);
  t.equal(key.statusCode, 200, key.body);
});

t.test('the session that confirms an app is fresh at aal2 from then on; a session of the user from before stays aal1', async (t) => {
  const user = await loggedInUser(ctx);
  const id = await userIdOf(ctx, user.email);
  const earlier = await passwordSession(ctx, user);
  const loggedInAt = clock.now().getTime();
  clock.advance(60);
  const { secret } = await startTotp(ctx, user.auth);
  clock.advance(30);

  // A wrong code proves nothing: the session stays as it was.
  const wrong = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', headers: user.auth, payload: { code: '000000' } });
  assertProblem(t, wrong, 401, 'MFA_CODE_INVALID');
  t.match(await sessionRow(user.tokens.session_id), { aal: 1, auth_aal: 1, amr: ['pwd'] }, 'a wrong code lifts nothing');
  t.equal((await sessionRow(user.tokens.session_id)).auth_at.getTime(), loggedInAt);

  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: user.auth,
    payload: { code: totpCode(secret, clock.nowSeconds()) },
  });
  t.equal(confirm.statusCode, 200, confirm.body);
  const firstCodes = confirm.json<{ backup_codes: string[] }>().backup_codes;

  const row = await sessionRow(user.tokens.session_id);
  t.match(row, { aal: 2, auth_aal: 2 }, 'the confirming session is aal2');
  t.equal(row.auth_at.getTime(), clock.now().getTime(), 'authenticated at the confirm, by the app clock');
  t.ok(row.amr.includes('pwd') && row.amr.includes('otp'), `amr pwd and otp (${row.amr})`);

  // Fresh at once: a step-up route that needs aal2 lets it through without another code.
  const regenerated = await regenerate(user.auth);
  t.equal(regenerated.statusCode, 200, regenerated.body);
  t.equal(
    regenerated.json<{ backup_codes: string[] }>().backup_codes.filter((c) => firstCodes.includes(c)).length,
    0,
    'a new set of codes',
  );

  const list = await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: user.auth });
  t.equal(list.statusCode, 200, list.body);
  const sessions = list.json<{ sessions: Array<{ id: string; aal: number; current: boolean }> }>().sessions;
  t.match(
    sessions.find((s) => s.id === user.tokens.session_id),
    { aal: 2, current: true },
    'the session list shows it at aal 2',
  );
  t.match(
    sessions.find((s) => s.id === earlier.tokens.session_id),
    { aal: 1, current: false },
    'and the session from before at aal 1',
  );
  const next = await refresh(ctx, user.tokens.refresh_token);
  t.equal(next.res.statusCode, 200, next.res.body);
  const claims = decode(next.body.access_token).claims as { aal: number; amr: string[] };
  t.equal(claims.aal, 2, 'its next access token says aal 2');
  t.ok(claims.amr.includes('otp'), `with otp in the amr (${claims.amr})`);

  // The other session of the same user proved nothing: aal1, refused, and its refresh stays aal1.
  t.match(await sessionRow(earlier.tokens.session_id), { aal: 1, auth_aal: 1, amr: ['pwd'] }, 'the earlier session is still aal1');
  const refused = assertProblem(t, await regenerate(earlier.auth), 403, 'REAUTHENTICATION_REQUIRED', 'the earlier session');
  t.same({ required_aal: refused.required_aal, methods: refused.methods }, { required_aal: 2, methods: ['totp', 'backup_code'] });
  const earlierNext = await refresh(ctx, earlier.tokens.refresh_token);
  t.equal(earlierNext.res.statusCode, 200);
  t.equal(decode(earlierNext.body.access_token).claims.aal, 1, 'its refresh stays aal1');
  t.equal((await factorRows(id)).length, 1);

  // The usual five minutes, not a lasting pass.
  clock.advance(301);
  assertProblem(t, await regenerate(bearer(next.body.access_token)), 403, 'REAUTHENTICATION_REQUIRED', '5 min 1 s after the confirm');
});

t.test('confirming a phone or a key lifts the confirming session too, with what it proved in the amr', async (t) => {
  const cases = [
    {
      label: 'a phone',
      amr: 'sms',
      async turnOn(auth: Bearer) {
        const enrol = await enrolPhone(ctx, auth);
        if (enrol.statusCode !== 200) return enrol;
        return confirmPhone(ctx, auth, lastCode(ctx));
      },
    },
    { label: 'a security key', amr: 'hwk', turnOn: (auth: Bearer) => register(ctx, auth, securityKey()) },
    {
      label: 'a synced passkey',
      amr: 'swk',
      turnOn: (auth: Bearer) => register(ctx, auth, syncedPasskeyProvider(), { passkey: true }),
    },
  ];
  for (const { label, amr, turnOn } of cases) {
    const user = await loggedInUser(ctx);
    const earlier = await passwordSession(ctx, user);
    clock.advance(60);
    const res = await turnOn(user.auth);
    t.equal(res.statusCode, 200, `${label}: ${res.body.slice(0, 160)}`);
    const row = await sessionRow(user.tokens.session_id);
    t.match(row, { aal: 2, auth_aal: 2 }, `${label}: the confirming session is aal2`);
    t.equal(row.auth_at.getTime(), clock.now().getTime(), `${label}: authenticated at the confirm`);
    t.ok(row.amr.includes('pwd') && row.amr.includes(amr), `${label}: amr has ${amr} (${row.amr})`);
    t.equal((await regenerate(user.auth)).statusCode, 200, `${label}: fresh for step-up at once`);
    t.match(await sessionRow(earlier.tokens.session_id), { aal: 1, auth_aal: 1, amr: ['pwd'] }, `${label}: the earlier session stays aal1`);
    assertProblem(t, await regenerate(earlier.auth), 403, 'REAUTHENTICATION_REQUIRED', `${label}: the earlier session`);
  }
});
