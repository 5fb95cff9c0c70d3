import t from 'tap';
import { Redis } from 'ioredis';
import { buildTestApp, login, loggedInUser, redisUrl, TEST_KEYS } from '../../helpers/app.js';
import { createKeyring } from '../../../src/infra/keyring.js';
import { eventually } from '../../helpers/eventually.js';
import {
  codeIn,
  completeLogin,
  confirmPhone,
  enrolPhone,
  lastCode,
  logLinesWith,
  logLinesWithCode,
  mfaToken,
  PHONE,
  PHONE_DIGITS,
  PHONE_E164,
  PHONE_MASKED,
  reauthChallenge,
  reauthenticate,
  sendLoginCode,
  smsLogin,
  userWithPhone,
} from '../../helpers/sms-flow.js';
import { decode } from '../tokens/forge.js';

// Many accounts text the same number here; the limits have their own test.
const ctx = await buildTestApp(t, { kv: 'redis', env: { SMS_PER_NUMBER_PER_HOUR: '1000', SMS_PER_USER_PER_HOUR: '1000' } });
const userIdOf = async (email: string) =>
  (await ctx.db.selectFrom('users').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
const factorRows = (userId: string) => ctx.db.selectFrom('mfa_factors').selectAll().where('user_id', '=', userId).execute();

t.test('add a phone, confirm it, then a login takes the SMS step and ends at aal2 with amr pwd+sms', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);

  const enrol = await enrolPhone(ctx, user.auth, '+1 (415) 555-2671');
  t.equal(enrol.statusCode, 200, enrol.body);
  t.equal(enrol.headers['cache-control'], 'no-store');
  const { factor_id, ...rest } = enrol.json();
  t.same(rest, { status: 'sent', sent_to: PHONE_MASKED, expires_in: 600 });
  const enrolText = ctx.sms.sent.at(-1)!;
  t.equal(enrolText.to, PHONE_E164, 'texted in E.164');
  const enrolCode = codeIn(enrolText.body);
  t.match(enrolText.body, /^\d{6} is your Tessera code to add this phone to your account\. It expires in 10 minutes\./);
  t.match(enrolText.body, new RegExp(`\\n\\n@127\\.0\\.0\\.1 #${enrolCode}$`), 'origin-bound last line for autofill');

  const [pending] = await factorRows(userId);
  t.equal(pending.id, factor_id);
  t.equal(pending.kind, 'sms');
  t.equal(pending.name, PHONE_MASKED);
  t.equal(pending.confirmed_at, null, 'pending until the code comes back');
  const meBefore = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  t.equal(meBefore.json().mfa.enabled, false, 'a pending phone is not a factor');

  const confirm = await confirmPhone(ctx, user.auth, enrolCode);
  t.equal(confirm.statusCode, 200, confirm.body);
  t.equal(confirm.headers['cache-control'], 'no-store');
  t.equal(confirm.json().status, 'enabled');
  t.equal(confirm.json().factor_id, factor_id);
  t.equal(confirm.json().backup_codes.length, 10, 'the first factor brings backup codes');
  const notice = await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject.includes('was added')));
  t.match(notice.text, `The phone number ${PHONE_MASKED} was just added`);

  const first = await login(ctx, user.email, user.password);
  t.equal(first.body.status, 'mfa_required', first.res.body);
  t.same(first.body.methods, ['sms', 'backup_code']);
  const send = await sendLoginCode(ctx, first.body.mfa_token);
  t.equal(send.statusCode, 200, send.body);
  t.equal(send.headers['cache-control'], 'no-store');
  t.same(send.json(), { status: 'sent', sent_to: PHONE_MASKED, expires_in: 600 });
  t.match(ctx.sms.sent.at(-1)!.body, /^\d{6} is your Tessera sign-in code\./);

  const done = await completeLogin(ctx, first.body.mfa_token, lastCode(ctx));
  t.equal(done.statusCode, 200, done.body);
  const { claims } = decode(done.json().access_token);
  t.equal(claims.aal, 2);
  t.same(claims.amr, ['pwd', 'sms']);

  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${done.json().access_token}` } });
  t.equal(me.statusCode, 200);
  const [shown] = me.json().mfa.factors;
  t.equal(shown.kind, 'sms');
  t.equal(shown.name, PHONE_MASKED, 'masked in GET /v1/me');
  t.type(shown.last_used_at, 'string', 'last use recorded');
  t.equal(me.json().mfa.backup_codes_remaining, 10);
});

t.test('the number is sealed under the keyring with the row id as AAD, and shown masked everywhere', async (t) => {
  const user = await userWithPhone(ctx);
  const session = await smsLogin(ctx, user);
  const codes = ctx.sms.sent.filter((m) => m.to === PHONE_E164).map((m) => codeIn(m.body));

  const [row] = await factorRows(user.userId);
  t.ok(row.secret_enc, 'a ciphertext is stored');
  t.notOk(row.secret_enc!.includes(PHONE_DIGITS), 'the column does not hold the digits');
  t.match(row.secret_enc!, /^v1\.test1\./, 'a keyring ciphertext');
  const keyring = createKeyring(TEST_KEYS);
  t.equal(keyring.decryptString(row.secret_enc!, `mfa_factor:${row.id}`), PHONE_E164, 'it opens to the E.164 number with its row id');
  t.throws(() => keyring.decryptString(row.secret_enc!, 'mfa_factor:00000000-0000-0000-0000-000000000000'), 'and with no other row id');
  t.equal(row.name, PHONE_MASKED);

  for (const url of ['/v1/me', '/v1/me/mfa', '/v1/me/security-events']) {
    const res = await ctx.app.inject({ method: 'GET', url, headers: session.auth });
    t.equal(res.statusCode, 200, url);
    t.notOk(res.body.includes(PHONE_DIGITS), `${url} does not show the number`);
  }
  const mfa = await ctx.app.inject({ method: 'GET', url: '/v1/me/mfa', headers: session.auth });
  t.equal(mfa.json().factors[0].name, PHONE_MASKED);

  const events = await eventually(async () => {
    const rows = await ctx.db.selectFrom('audit_events').selectAll().where('actor_id', '=', user.userId).execute();
    return rows.filter((r) => r.action === 'mfa.sms_sent').length >= 2 && rows;
  });
  const sent = events.filter((r) => r.action === 'mfa.sms_sent');
  t.same(sent.map((r) => r.data.purpose).sort(), ['enrol', 'login']);
  for (const r of sent) t.equal(r.data.to, PHONE_MASKED, 'the audit event names the masked number');
  const trail = JSON.stringify(events);
  t.notOk(trail.includes(PHONE_DIGITS), 'no audit event holds the number');
  for (const code of codes) t.notOk(trail.includes(`"${code}"`), 'no audit event holds a code');
  t.notOk(JSON.stringify(ctx.mail.sent).includes(PHONE_DIGITS), 'no email holds the number');

  t.same(logLinesWith(ctx, PHONE_DIGITS), [], 'no log line holds the number');
  for (const code of codes) t.same(logLinesWithCode(ctx, code), [], `no log line holds the code ${code}`);
});

t.test('the KV store keeps neither codes nor numbers in clear', { skip: !redisUrl() && 'no Redis' }, async (t) => {
  const user = await userWithPhone(ctx);
  const token = await mfaToken(ctx, user);
  await sendLoginCode(ctx, token);
  const code = lastCode(ctx);
  const redis = new Redis(redisUrl()!);
  t.teardown(() => redis.quit());
  const keys = await redis.keys('*{mfa}:sms:*');
  t.ok(keys.length >= 3, `code, send counters (${keys.length} keys)`);
  for (const key of keys) {
    t.notOk(key.includes(PHONE_DIGITS), `key ${key} has no number`);
    const value = (await redis.type(key)) === 'string' ? ((await redis.get(key)) ?? '') : '';
    t.notOk(value.includes(PHONE_DIGITS), `${key}: value has no number`);
    t.notOk(new RegExp(`(?<!\\d)${code}(?!\\d)`).test(value), `${key}: value has no code`);
  }
});

t.test('step-up with an SMS code: the text says what it is for, the session becomes fresh at aal2', async (t) => {
  const user = await loggedInUser(ctx);
  // A password session opened before the phone was added: it stays aal1 (the session that
  // confirms the phone is lifted to aal2 by doing so), so removing needs a step-up.
  const earlier = (await login(ctx, user.email, user.password)).body as { access_token: string };
  const auth = { authorization: `Bearer ${earlier.access_token}` };
  t.equal((await enrolPhone(ctx, user.auth)).statusCode, 200, 'phone set up');
  t.equal((await confirmPhone(ctx, user.auth, lastCode(ctx))).statusCode, 200, 'phone confirmed');
  const userId = await userIdOf(user.email);
  const refused = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/sms', headers: auth });
  t.equal(refused.statusCode, 403, refused.body);
  t.equal(refused.json().code, 'REAUTHENTICATION_REQUIRED');
  t.ok(refused.json().methods.includes('sms'));

  const challenge = await reauthChallenge(ctx, auth);
  t.equal(challenge.statusCode, 200, challenge.body);
  t.same(challenge.json(), { status: 'sent', sent_to: PHONE_MASKED, expires_in: 600 });
  t.match(ctx.sms.sent.at(-1)!.body, /^\d{6} is your Tessera code to confirm it is you\./);
  const fresh = await reauthenticate(ctx, auth, lastCode(ctx));
  t.equal(fresh.statusCode, 200, fresh.body);
  t.equal(fresh.json().aal, 2);

  const removed = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/sms', headers: auth });
  t.equal(removed.statusCode, 204, removed.body);
  t.same(await factorRows(userId), [], 'the row is gone');
  const codesLeft = await ctx.db.selectFrom('mfa_backup_codes').select('user_id').where('user_id', '=', userId).execute();
  t.equal(codesLeft.length, 0, 'the backup codes went with the last factor');
  const notice = await eventually(() => ctx.mail.sent.find((m) => m.to === user.email && m.subject.includes('was removed')));
  t.match(notice.text, PHONE_MASKED);
  const after = await login(ctx, user.email, user.password);
  t.ok(after.body.access_token, 'the password alone signs in again');

  const again = await ctx.app.inject({ method: 'DELETE', url: '/v1/me/mfa/sms', headers: auth });
  t.equal(again.statusCode, 404, again.body);
  t.equal(again.json().code, 'FACTOR_NOT_FOUND');
});

t.test('a second phone while one is on: 409, nothing sent, nothing written', async (t) => {
  const user = await userWithPhone(ctx);
  const sentBefore = ctx.sms.sent.length;
  const rowsBefore = await factorRows(user.userId);
  const res = await enrolPhone(ctx, user.auth, '+44 7911 123456');
  t.equal(res.statusCode, 409, res.body);
  t.equal(res.json().code, 'FACTOR_ALREADY_ENROLLED');
  t.equal(ctx.sms.sent.length, sentBefore);
  t.same(await factorRows(user.userId), rowsBefore);
  const confirm = await confirmPhone(ctx, user.auth, '123456');
  t.equal(confirm.json().code, 'FACTOR_ALREADY_ENROLLED');
});

t.test('another number while one is pending starts over: the first code no longer confirms', async (t) => {
  const user = await loggedInUser(ctx);
  const userId = await userIdOf(user.email);
  const first = await enrolPhone(ctx, user.auth, PHONE);
  const firstCode = lastCode(ctx);
  const second = await enrolPhone(ctx, user.auth, '+44 7911 123456');
  t.equal(second.statusCode, 200, second.body);
  t.not(second.json().factor_id, first.json().factor_id);
  t.equal(second.json().sent_to, '+44 ••• ••• 3456');
  const rows = await factorRows(userId);
  t.same(
    rows.map((r) => [r.id, r.name]),
    [[second.json().factor_id, '+44 ••• ••• 3456']],
    'one pending row, the new one',
  );
  const stale = await confirmPhone(ctx, user.auth, firstCode);
  t.equal(stale.statusCode, 401, stale.body);
  t.equal(stale.json().code, 'MFA_CODE_INVALID');
  const ok = await confirmPhone(ctx, user.auth, lastCode(ctx, '+447911123456'));
  t.equal(ok.statusCode, 200, ok.body);
});

t.test('confirming with revoke_other_sessions signs out the other sessions, not this one', async (t) => {
  const user = await loggedInUser(ctx);
  const other = await login(ctx, user.email, user.password);
  await enrolPhone(ctx, user.auth);
  const res = await confirmPhone(ctx, user.auth, lastCode(ctx), { revoke_other_sessions: true });
  t.equal(res.statusCode, 200, res.body);
  const mine = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  t.equal(mine.statusCode, 200, 'this session stays');
  const theirs = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${other.body.access_token}` } });
  t.equal(theirs.statusCode, 401, 'the other one is signed out');
});
