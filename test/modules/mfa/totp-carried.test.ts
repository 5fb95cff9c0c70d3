/**
 * The second step reads nothing of the factor: the first step carries the TOTP row (id, sealed
 * secret, last step) in the parked login. These tests hold it to the live row: a factor removed
 * or replaced between the two steps, or a step spent meanwhile, refuses the code.
 */
import t from 'tap';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { sha256 } from '../../../src/infra/random.js';
import { buildTestApp, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { confirmTotp, enrolTotp, manualClock, mfaToken, secondStep, userWithTotp } from './totp-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });

/** A fresh aal2 session of the user (for the step-up that removal needs). */
async function aal2Auth(user: { email: string; password: string; secret: string }) {
  const token = await mfaToken(ctx, user);
  const res = await secondStep(ctx, token, 'totp', totpCode(user.secret, clock.nowSeconds()));
  if (res.statusCode !== 200) throw new Error(res.body);
  return { authorization: `Bearer ${res.json().access_token}` };
}

t.test('an app removed and set up again between the steps: neither the old nor the new code completes the old login', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(60);
  const parked = await mfaToken(ctx, user);
  const auth = await aal2Auth(user);
  t.equal((await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: auth })).statusCode, 204);
  const enrol = await enrolTotp(ctx, auth);
  const fresh = enrol.json<{ secret: string }>().secret;
  clock.advance(30);
  t.equal((await confirmTotp(ctx, auth, { code: totpCode(fresh, clock.nowSeconds()) })).statusCode, 200);
  clock.advance(30);

  assertProblem(
    t,
    await secondStep(ctx, parked, 'totp', totpCode(user.secret, clock.nowSeconds())),
    401,
    'MFA_CODE_INVALID',
    'the old secret',
  );
  assertProblem(t, await secondStep(ctx, parked, 'totp', totpCode(fresh, clock.nowSeconds())), 401, 'MFA_CODE_INVALID', 'the new secret');
  // A new login carries the new app, and its code works.
  const again = await mfaToken(ctx, user);
  t.equal((await secondStep(ctx, again, 'totp', totpCode(fresh, clock.nowSeconds()))).statusCode, 200);
});

t.test('a step spent after the login was parked is refused, though the carried row predates it', async (t) => {
  const user = await userWithTotp(ctx, clock);
  clock.advance(60);
  const parked = await mfaToken(ctx, user);
  const code = totpCode(user.secret, clock.nowSeconds());
  // Another login spends this step first.
  const other = await mfaToken(ctx, user);
  t.equal((await secondStep(ctx, other, 'totp', code)).statusCode, 200);
  assertProblem(t, await secondStep(ctx, parked, 'totp', code), 401, 'MFA_CODE_INVALID');
});

t.test('the parked login in the KV store holds the secret sealed, never in clear', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const { body } = await login(ctx, user.email, user.password);
  t.equal(body.status, 'mfa_required');

  const raw = await ctx.kv.get(`tessera:{mfa}:login:${sha256(body.mfa_token).toString('base64url')}`);
  t.ok(raw, 'the parked login is there');
  t.notOk(raw!.includes(user.secret), 'no base32 secret');
  t.match(JSON.parse(raw!).carried.totp.secret_enc, /^v1\./, 'the sealed form');
});
