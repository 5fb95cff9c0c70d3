import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { aal2Login, firstStep, manualClock, secondStep, startTotp, userWithTotp } from './flow-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock });

const NONE = { enabled: false, methods: [], factors: [], backup_codes_remaining: 0 };

async function views(auth: { authorization: string }) {
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth });
  const mfa = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: auth });
  if (me.statusCode !== 200 || mfa.statusCode !== 200) throw new Error(`${me.body} ${mfa.body}`);
  return { me, mfa, section: me.json().mfa, summary: mfa.json() };
}

t.test('without a factor, and with one only started: nothing is on', async (t) => {
  const user = await loggedInUser(ctx);
  t.same((await views(user.auth)).summary, NONE);
  const { secret } = await startTotp(ctx, user.auth);
  const { section, summary, me, mfa } = await views(user.auth);
  t.same(summary, NONE, 'a pending set-up is not listed');
  t.same(section, summary, 'GET /v1/me shows the same section');
  for (const res of [me, mfa]) t.notMatch(res.body, secret, 'the pending secret is not shown again');
});

t.test('a factor that is on: kind, name, dates and the backup codes left, and never a secret', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const confirmedAt = clock.now().toISOString();
  const { section, summary, me, mfa } = await views(user.auth);
  t.same(section, summary, 'GET /v1/me and GET /v1/me/mfa agree');
  t.same(Object.keys(summary).sort(), ['backup_codes_remaining', 'enabled', 'factors', 'methods']);
  t.match(summary, { enabled: true, methods: ['totp', 'backup_code'], backup_codes_remaining: 10 });
  t.equal(summary.factors.length, 1);
  const [factor] = summary.factors;
  t.same(Object.keys(factor).sort(), ['created_at', 'id', 'kind', 'last_used_at', 'name']);
  t.match(factor, { id: user.factorId, kind: 'totp', name: 'Authenticator app', last_used_at: confirmedAt });
  t.ok(!Number.isNaN(Date.parse(factor.created_at)), 'created_at is a date');
  const row = await ctx.db.selectFrom('mfa_factors').select(['secret_enc']).where('id', '=', user.factorId).executeTakeFirstOrThrow();
  for (const res of [me, mfa]) {
    t.notMatch(res.body, user.secret, 'not the secret');
    t.notMatch(res.body, row.secret_enc!, 'not the sealed secret');
    t.notMatch(res.body, /secret|otpauth|code_hash/i, 'no secret-bearing field');
    for (const code of user.backupCodes) t.notMatch(res.body, code, 'no backup code');
  }

  // Using the factors shows: last use moves, a backup code is one fewer.
  clock.advance(90);
  await aal2Login(ctx, user, clock);
  const { mfa_token } = await firstStep(ctx, user);
  t.equal((await secondStep(ctx, mfa_token, 'backup_code', user.backupCodes[3])).statusCode, 200);
  const after = (await views(user.auth)).summary;
  t.equal(after.backup_codes_remaining, 9);
  t.equal(after.factors[0].last_used_at, clock.now().toISOString(), 'last used at the TOTP login');
});

t.test('the views need a signed-in caller', async (t) => {
  for (const url of ['/v1/me/mfa', '/v1/me']) {
    assertProblem(t, await ctx.app.inject({ method: 'GET', url }), 401, 'AUTHENTICATION_REQUIRED', url);
  }
});

t.test("one user's view never shows another user's factors", async (t) => {
  const withApp = await userWithTotp(ctx, clock);
  const without = await loggedInUser(ctx);
  t.same((await views(without.auth)).summary, NONE);
  t.equal((await views(withApp.auth)).summary.factors.length, 1);
});
