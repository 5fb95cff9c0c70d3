import t from 'tap';
import QRCode from 'qrcode';
import { createKeyring } from '../../../src/infra/keyring.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';
import { TEST_KEYS, buildTestApp, loggedInUser, login, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { eventually } from '../../helpers/eventually.js';
import {
  auditActions,
  confirmTotp,
  enrolTotp,
  manualClock,
  mfaToken,
  secondStep,
  statusCounts,
  userIdOf,
  userWithTotp,
  userWithTotpAndEarlierSession,
  type Bearer,
} from './totp-support.js';

const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock });
const keyring = createKeyring(TEST_KEYS);

const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();
const backupRows = (userId: string) => ctx.db.selectFrom('mfa_backup_codes').selectAll().where('user_id', '=', userId).execute();
const mfaOf = async (c: TestApp, auth: Bearer) => (await c.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: auth })).json();

t.test('enrolment answers the secret, an otpauth URI apps read, and an SVG QR code of it', async (t) => {
  const user = await loggedInUser(ctx);
  const res = await enrolTotp(ctx, user.auth);
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store', 'the secret is not cached');
  const body = res.json();
  t.match(body.secret, /^[A-Z2-7]{32}$/, 'base32, 20 bytes (160 bits)');
  t.same({ algorithm: body.algorithm, digits: body.digits, period: body.period }, { algorithm: 'SHA1', digits: 6, period: 30 });

  // Google's Key URI Format: otpauth://totp/Issuer:account?secret=...&issuer=Issuer, with the
  // defaults spelled out.
  const email = encodeURIComponent(user.email);
  t.equal(body.otpauth_url, `otpauth://totp/Tessera:${email}?secret=${body.secret}&issuer=Tessera&algorithm=SHA1&digits=6&period=30`);
  const uri = new URL(body.otpauth_url);
  t.equal(uri.protocol, 'otpauth:');
  t.equal(uri.host, 'totp');
  t.equal(decodeURIComponent(uri.pathname), `/Tessera:${user.email}`, 'label: issuer and the account email');
  t.equal(uri.searchParams.get('issuer'), 'Tessera');
  t.equal(uri.searchParams.get('secret'), body.secret);

  const [prefix, b64] = body.qr_code.split(',');
  t.equal(prefix, 'data:image/svg+xml;base64');
  const svg = Buffer.from(b64, 'base64').toString('utf8');
  t.match(svg, /^<svg xmlns="http:\/\/www\.w3\.org\/2000\/svg"[^>]* viewBox="0 0 \d+ \d+"/, 'an SVG document');
  t.match(svg, /<path [^>]*d="M/, 'with the modules drawn');
  // It is the QR code of exactly the URI returned (qrcode's encoder is deterministic).
  t.equal(svg, await QRCode.toString(body.otpauth_url, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 }), 'QR of the otpauth URI');
  const modules = QRCode.create(body.otpauth_url, { errorCorrectionLevel: 'M' }).modules.size;
  t.match(svg, new RegExp(`viewBox="0 0 ${modules + 4} ${modules + 4}"`), 'module count of that URI plus the quiet zone');
});

t.test('the secret is stored sealed under the keyring, bound to its row', async (t) => {
  const user = await loggedInUser(ctx);
  const { secret, factor_id } = (await enrolTotp(ctx, user.auth)).json();
  const [row, ...others] = await factorRows(await userIdOf(ctx, user.email));
  t.equal(others.length, 0, 'one row');
  t.equal(row!.id, factor_id);
  t.equal(row!.kind, 'totp');
  t.equal(row!.confirmed_at, null, 'pending until confirmed');
  const stored = row!.secret_enc!;
  const rawSecretB64 = Buffer.from(
    // base32 -> bytes, to also rule out the raw key stored in base64 or hex.
    Uint8Array.from(
      (secret.match(/.{8}/g) as string[]).flatMap((chunk: string) => {
        let bits = 0n;
        for (const c of chunk) bits = (bits << 5n) | BigInt('ABCDEFGHIJKLMNOPQRSTUVWXYZ234567'.indexOf(c));
        return Array.from({ length: 5 }, (_, i) => Number((bits >> BigInt(8 * (4 - i))) & 0xffn));
      }),
    ),
  );
  t.equal(rawSecretB64.length, 20);
  for (const form of [secret, secret.toLowerCase(), rawSecretB64.toString('base64'), rawSecretB64.toString('hex')]) {
    t.notOk(stored.includes(form), 'the column does not contain the secret in any encoding');
  }
  t.equal(keyring.decryptString(stored, `mfa_factor:${row!.id}`), secret, 'decrypts with the row id as AAD');
  t.throws(() => keyring.decryptString(stored, `mfa_factor:${crypto.randomUUID()}`), 'not under another row id');
  t.throws(() => keyring.decryptString(stored), 'not without AAD');
  t.notOk(ctx.logs.join('').includes(secret), 'the secret is in no log line');
});

t.test('confirm: a wrong code leaves it off; the right one turns it on and shows ten backup codes once', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(ctx, user.email);
  const { secret } = (await enrolTotp(ctx, user.auth)).json();
  const now = clock.nowSeconds();

  for (const wrong of [totpCode(secret, now - 90), totpCode(secret, now + 90), '000000', '12345', 'abcdef', '1234567']) {
    if (wrong === totpCode(secret, now) || wrong === totpCode(secret, now - 30) || wrong === totpCode(secret, now + 30)) continue;
    assertProblem(t, await confirmTotp(ctx, user.auth, { code: wrong }), 401, 'MFA_CODE_INVALID', `wrong code ${wrong}`);
  }
  t.equal((await factorRows(userId))[0]!.confirmed_at, null, 'still pending');
  t.equal((await backupRows(userId)).length, 0, 'no backup codes');
  t.equal((await login(ctx, user.email, user.password)).body.status, 'authenticated', 'login still needs no second factor');

  const res = await confirmTotp(ctx, user.auth, { code: totpCode(secret, now) });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.headers['cache-control'], 'no-store');
  const body = res.json();
  t.equal(body.status, 'enabled');
  t.equal(body.backup_codes.length, 10, 'exactly ten backup codes');
  t.equal(new Set(body.backup_codes).size, 10, 'all different');
  for (const c of body.backup_codes) t.match(c, /^[a-hjkmnp-z2-9]{5}-[a-hjkmnp-z2-9]{5}$/, 'two groups of five, no look-alikes');

  const [row] = await factorRows(userId);
  t.not(row!.confirmed_at, null, 'confirmed');
  t.equal(row!.last_used_step, String(Math.floor(now / 30)), 'the step of the confirming code is spent');
  t.equal((await backupRows(userId)).length, 10);

  const summary = await mfaOf(ctx, user.auth);
  t.same(
    {
      enabled: summary.enabled,
      methods: summary.methods,
      remaining: summary.backup_codes_remaining,
      kinds: summary.factors.map((f: { kind: string }) => f.kind),
    },
    { enabled: true, methods: ['totp', 'backup_code'], remaining: 10, kinds: ['totp'] },
  );
  // Shown once: nothing answers them again (the summary, the profile, a repeated confirm).
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  for (const c of body.backup_codes) t.notOk(JSON.stringify(summary).includes(c) || me.body.includes(c), 'code not shown again');
  assertProblem(
    t,
    await confirmTotp(ctx, user.auth, { code: totpCode(secret, now + 30) }),
    409,
    'FACTOR_ALREADY_ENROLLED',
    'confirm again',
  );
  t.equal((await backupRows(userId)).length, 10, 'no second set');

  // The owner hears about it; it is audited.
  await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject === 'A sign-in method was added to your account'), {
    message: 'factor-enabled email',
  });
  const actions = await eventually(async () => {
    const a = await auditActions(ctx, userId);
    return a.includes('mfa.factor_enabled') && a.includes('mfa.backup_codes_generated') && a;
  });
  t.ok(actions, 'mfa.factor_enabled and mfa.backup_codes_generated audited');
  const audit = JSON.stringify(await ctx.db.selectFrom('audit_events').select('data').where('actor_id', '=', userId).execute());
  t.notOk(audit.includes(secret) || body.backup_codes.some((c: string) => audit.includes(c)), 'no secret or code in the audit trail');
  t.notOk(ctx.logs.join('').includes(secret), 'nor in the logs');
});

t.test('starting again while confirmed: 409 FACTOR_ALREADY_ENROLLED, the secret unchanged', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const before = await factorRows(user.id);
  assertProblem(t, await enrolTotp(ctx, user.auth), 409, 'FACTOR_ALREADY_ENROLLED');
  t.same(await factorRows(user.id), before, 'the factor row is untouched');
});

t.test('restarting a set-up replaces the pending secret', async (t) => {
  const user = await loggedInUser(ctx);
  const first = (await enrolTotp(ctx, user.auth)).json();
  const second = (await enrolTotp(ctx, user.auth)).json();
  t.not(second.secret, first.secret, 'a new secret');
  const rows = await factorRows(await userIdOf(ctx, user.email));
  t.same(
    rows.map((r) => r.id),
    [second.factor_id],
    'only the new pending row',
  );
  const now = clock.nowSeconds();
  if (totpCode(first.secret, now) !== totpCode(second.secret, now)) {
    assertProblem(t, await confirmTotp(ctx, user.auth, { code: totpCode(first.secret, now) }), 401, 'MFA_CODE_INVALID', 'the old secret');
  }
  t.equal((await confirmTotp(ctx, user.auth, { code: totpCode(second.secret, now) })).statusCode, 200, 'the new secret');
});

t.test('set-ups started at once (a double click) do not fail, and leave one row whose secret was answered', async (t) => {
  const user = await loggedInUser(ctx);
  const answers = await Promise.all(Array.from({ length: 6 }, () => enrolTotp(ctx, user.auth)));
  t.same(statusCounts(answers), { 200: 6 }, answers.map((a) => a.body.slice(0, 120)).join('\n'));
  const rows = await factorRows(await userIdOf(ctx, user.email));
  t.equal(rows.length, 1, 'one pending row');
  const survivor = answers.map((a) => a.json()).find((b) => b.factor_id === rows[0]!.id);
  t.ok(survivor, 'one of the answers is the set-up in force');
  const confirm = await confirmTotp(ctx, user.auth, { code: totpCode(survivor.secret, clock.nowSeconds()) });
  t.equal(confirm.statusCode, 200, confirm.body);
});

t.test('confirming without a set-up, or after its 15 minutes: 409 FACTOR_NOT_PENDING', async (t) => {
  const lone = await loggedInUser(ctx);
  assertProblem(t, await confirmTotp(ctx, lone.auth, { code: '123456' }), 409, 'FACTOR_NOT_PENDING', 'no set-up at all');

  const late = await loggedInUser(ctx);
  const onTime = await loggedInUser(ctx);
  const lateSecret = (await enrolTotp(ctx, late.auth)).json().secret;
  const onTimeSecret = (await enrolTotp(ctx, onTime.auth)).json().secret;
  const start = clock.nowSeconds();
  try {
    clock.set(start + 15 * 60 - 5);
    const ok = await confirmTotp(ctx, onTime.auth, { code: totpCode(onTimeSecret, clock.nowSeconds()) });
    t.equal(ok.statusCode, 200, `within 15 minutes it is confirmed (${ok.body})`);

    clock.set(start + 15 * 60 + 1);
    assertProblem(
      t,
      await confirmTotp(ctx, late.auth, { code: totpCode(lateSecret, clock.nowSeconds()) }),
      409,
      'FACTOR_NOT_PENDING',
      'too late',
    );
    const userId = await userIdOf(ctx, late.email);
    t.equal((await factorRows(userId))[0]!.confirmed_at, null, 'not enabled');
    t.equal((await backupRows(userId)).length, 0, 'no backup codes');
    t.equal((await login(ctx, late.email, late.password)).body.status, 'authenticated', 'login still needs no second factor');
    // Starting again works, once the password is confirmed again (setting up is step-up, and the
    // login is over fifteen minutes old by now).
    assertProblem(t, await enrolTotp(ctx, late.auth), 403, 'REAUTHENTICATION_REQUIRED', 'a stale session starts no set-up');
    const reauth = await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/reauthenticate',
      headers: late.auth,
      payload: { password: late.password },
    });
    t.equal(reauth.statusCode, 200, reauth.body);
    const again = (await enrolTotp(ctx, late.auth)).json();
    t.equal((await confirmTotp(ctx, late.auth, { code: totpCode(again.secret, clock.nowSeconds()) })).statusCode, 200, 'a new set-up');
  } finally {
    // Later tests log in afresh; keep the clock moving forward only.
    clock.advance(30);
  }
});

t.test('bad input: 4xx problem+json, nothing written', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(ctx, user.email);
  const raw = (url: string, payload: string, contentType = 'application/json') =>
    ctx.app.inject({ method: 'POST', url, headers: { ...user.auth, 'content-type': contentType }, payload });

  assertProblem(t, await raw('/v1/me/mfa/totp', '{"oops'), 400, 'MALFORMED_BODY', 'enrol with malformed JSON');
  assertProblem(t, await raw('/v1/me/mfa/totp', '{"secret": "JBSWY3DPEHPK3PXP"}'), 400, 'VALIDATION_FAILED', 'enrol with a chosen secret');
  assertProblem(t, await raw('/v1/me/mfa/totp', '[]'), 400, 'VALIDATION_FAILED', 'enrol with an array');
  t.equal((await factorRows(userId)).length, 0, 'no row from a refused enrol');
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp' }),
    401,
    'AUTHENTICATION_REQUIRED',
    'enrol without a token',
  );
  t.equal((await factorRows(userId)).length, 0);

  const emptyObject = await raw('/v1/me/mfa/totp', '{}');
  t.equal(emptyObject.statusCode, 200, 'an empty object is no input');
  const { secret } = (await enrolTotp(ctx, user.auth)).json();
  const [pending] = await factorRows(userId);
  const good = totpCode(secret, clock.nowSeconds());
  const bodies: Array<[string, string]> = [
    ['no body', ''],
    ['empty object', '{}'],
    ['code as a number', JSON.stringify({ code: Number(good) })],
    ['empty code', JSON.stringify({ code: '' })],
    ['blank code', JSON.stringify({ code: '   ' })],
    ['33-character code', JSON.stringify({ code: '1'.repeat(33) })],
    ['unknown field', JSON.stringify({ code: good, enabled: true })],
    ['flag not a boolean', JSON.stringify({ code: good, revoke_other_sessions: 'yes' })],
    ['array body', JSON.stringify([good])],
    ['null code', JSON.stringify({ code: null })],
  ];
  for (const [what, payload] of bodies) {
    const res = await raw('/v1/me/mfa/totp/confirm', payload);
    t.equal(res.statusCode, 400, `${what}: 400 (${res.body.slice(0, 160)})`);
    t.equal(res.headers['content-type']?.toString().split(';')[0], 'application/problem+json', `${what}: problem+json`);
  }
  assertProblem(t, await raw('/v1/me/mfa/totp/confirm', '{"code": "1'), 400, 'MALFORMED_BODY', 'malformed JSON');
  assertProblem(
    t,
    await raw('/v1/me/mfa/totp/confirm', 'code=123456', 'application/x-www-form-urlencoded'),
    415,
    'UNSUPPORTED_MEDIA_TYPE',
    'a form body',
  );
  assertProblem(
    t,
    await ctx.app.inject({ method: 'POST', url: '/v1/me/mfa/totp/confirm', payload: { code: good } }),
    401,
    'AUTHENTICATION_REQUIRED',
    'confirm without a token',
  );
  t.same(await factorRows(userId), [pending], 'the pending row is untouched (not confirmed, no step spent)');
  t.equal((await backupRows(userId)).length, 0, 'no backup codes');
  t.equal((await confirmTotp(ctx, user.auth, { code: good })).statusCode, 200, 'the same code still confirms afterwards');
});

t.test('confirm with revoke_other_sessions signs out the other sessions, not this one', async (t) => {
  const user = await loggedInUser(ctx);
  const other = (await login(ctx, user.email, user.password)).body;
  const bystander = await loggedInUser(ctx);
  const { secret } = (await enrolTotp(ctx, user.auth)).json();
  const res = await confirmTotp(ctx, user.auth, { code: totpCode(secret, clock.nowSeconds()), revoke_other_sessions: true });
  t.equal(res.statusCode, 200, res.body);
  const me = (auth: Bearer) => ctx.app.inject({ method: 'GET', url: '/v1/me', headers: auth });
  t.equal((await me(user.auth)).statusCode, 200, 'the confirming session goes on');
  assertProblem(t, await me({ authorization: `Bearer ${other.access_token}` }), 401, 'SESSION_REVOKED', 'the other session is out');
  t.equal((await me(bystander.auth)).statusCode, 200, "another user's session is untouched");

  // Without the flag nobody is signed out.
  const keep = await loggedInUser(ctx);
  const keepOther = (await login(ctx, keep.email, keep.password)).body;
  const s2 = (await enrolTotp(ctx, keep.auth)).json().secret;
  t.equal((await confirmTotp(ctx, keep.auth, { code: totpCode(s2, clock.nowSeconds()) })).statusCode, 200);
  t.equal((await me({ authorization: `Bearer ${keepOther.access_token}` })).statusCode, 200, 'without the flag the other session stays');
});

t.test('DELETE /v1/me/mfa/totp needs a fresh aal2; it removes the app and its backup codes', async (t) => {
  const user = await userWithTotpAndEarlierSession(ctx, clock);
  // A password session from before the app was turned on is aal1: removing the factor needs a
  // second factor first.
  const stale = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: user.earlier.auth });
  const problem = assertProblem(t, stale, 403, 'REAUTHENTICATION_REQUIRED', 'an aal1 session');
  t.equal(problem.required_aal, 2);
  t.equal((await factorRows(user.id)).length, 1, 'still there');

  clock.advance(30);
  const done = await secondStep(ctx, await mfaToken(ctx, user), 'totp', totpCode(user.secret, clock.nowSeconds()));
  t.equal(done.statusCode, 200, done.body);
  const fresh = { authorization: `Bearer ${done.json().access_token}` };
  const del = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: fresh });
  t.equal(del.statusCode, 204, del.body);
  t.equal((await factorRows(user.id)).length, 0, 'the factor row is gone');
  t.equal((await backupRows(user.id)).length, 0, 'the backup codes went with the last factor');
  const summary = await mfaOf(ctx, fresh);
  t.same(
    { enabled: summary.enabled, methods: summary.methods, remaining: summary.backup_codes_remaining },
    { enabled: false, methods: [], remaining: 0 },
  );
  t.equal((await login(ctx, user.email, user.password)).body.status, 'authenticated', 'login needs only the password again');
  await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject === 'A sign-in method was removed from your account'), {
    message: 'factor-removed email',
  });
  await eventually(async () => (await auditActions(ctx, user.id)).includes('mfa.factor_removed'), {
    message: 'mfa.factor_removed audited',
  });
  assertProblem(t, await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/totp', headers: fresh }), 404, 'FACTOR_NOT_FOUND', 'again');
});
