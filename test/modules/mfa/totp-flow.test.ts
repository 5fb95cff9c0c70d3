import t from 'tap';
import { buildTestApp, loggedInUser, login } from '../../helpers/app.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { decode } from '../tokens/forge.js';

const ctx = await buildTestApp(t, { kv: 'redis' });

t.test('enrol TOTP, confirm, then login needs the second factor and ends at aal2', async (t) => {
  const user = await loggedInUser(ctx);
  const enrol = await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp', headers: user.auth });
  t.equal(enrol.statusCode, 200, enrol.body);
  const { secret, otpauth_url, qr_code } = enrol.json();
  t.match(otpauth_url, /^otpauth:\/\/totp\/Tessera:/);
  t.match(qr_code, /^data:image\/svg\+xml;base64,/);
  const now = Math.floor(Date.now() / 1000);
  const confirm = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/mfa/totp/confirm',
    headers: user.auth,
    payload: { code: totpCode(secret, now) },
  });
  t.equal(confirm.statusCode, 200, confirm.body);
  t.equal(confirm.json().backup_codes.length, 10);

  const first = await login(ctx, user.email, user.password);
  t.equal(first.body.status, 'mfa_required', first.res.body);
  t.same(first.body.methods, ['totp', 'backup_code']);
  // The confirm's step is spent: the next window's code completes the login.
  const done = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login/mfa',
    payload: { mfa_token: first.body.mfa_token, method: 'totp', code: totpCode(secret, now + 30) },
  });
  t.equal(done.statusCode, 200, done.body);
  const { claims } = decode(done.json().access_token);
  t.equal(claims.aal, 2);
  t.same(claims.amr, ['pwd', 'otp']);
});
