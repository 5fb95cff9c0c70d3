import t, { type Test } from 'tap';
import type { InjectOptions } from 'fastify';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { auditOf, firstStep, manualClock, nextTotp, secondStep, userWithTotp } from './flow-support.js';

// One app for the file; every case checks that nothing was written, in Postgres or in the mfa_token's tries.
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'redis', clock, env: { BODY_LIMIT_BYTES: '4096' } });
const user = await userWithTotp(ctx, clock);
const { mfa_token } = await firstStep(ctx, user);
// The set-up's audit events are written after the responses: let them land before counting.
await auditOf(ctx, user.id, (rows) => rows.some((r) => r.action === 'session.mfa_required'));

async function snapshot() {
  const [sessions, codes, factors, audit] = await Promise.all([
    ctx.db.selectFrom('sessions').select(['id', 'revoked_at']).orderBy('id').execute(),
    ctx.db.selectFrom('mfa_backup_codes').select(['code_hash', 'used_at']).orderBy('code_hash').execute(),
    ctx.db.selectFrom('mfa_factors').select(['id', 'last_used_step', 'last_used_at']).orderBy('id').execute(),
    ctx.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { sessions, codes, factors, audit: audit.n };
}

async function refused(t: Test, request: InjectOptions, status: number, code: string, field?: string) {
  const before = await snapshot();
  const res = await ctx.app.inject({ method: 'POST', url: '/v1/login/mfa', ...request });
  t.not(res.statusCode, 500, 'never a 500');
  const body = assertProblem(t, res, status, code);
  if (field)
    t.ok(
      body.errors?.some((e) => e.field === field),
      `names ${field}: ${JSON.stringify(body.errors)}`,
    );
  t.notMatch(res.body, /node_modules|\/work\/|src\//, 'no file paths');
  await new Promise((r) => setTimeout(r, 20));
  t.same(await snapshot(), before, 'nothing written');
}

const good = () => ({ mfa_token, method: 'totp', code: '123456' });
const json = { 'content-type': 'application/json' };

t.test('missing fields: 400 VALIDATION_FAILED naming the field', async (t) => {
  for (const field of ['mfa_token', 'method', 'code'] as const) {
    const { [field]: _, ...rest } = good();
    await t.test(field, (t) => refused(t, { payload: rest }, 400, 'VALIDATION_FAILED', field));
  }
  await t.test('empty object', (t) => refused(t, { payload: {} }, 400, 'VALIDATION_FAILED'));
});

t.test('extra fields are refused, not ignored (no aal, amr, user_id or session smuggled in)', async (t) => {
  for (const extra of [{ aal: 2 }, { amr: ['pwd', 'otp'] }, { user_id: user.id }, { mode: 'cookie' }, { response: {} }]) {
    await t.test(JSON.stringify(extra), (t) => refused(t, { payload: { ...good(), ...extra } }, 400, 'VALIDATION_FAILED'));
  }
});

t.test('wrong types and values: 400 VALIDATION_FAILED', async (t) => {
  const cases: Array<[Record<string, unknown>, string]> = [
    [{ ...good(), code: 123456 }, 'code'],
    [{ ...good(), code: ['123456'] }, 'code'],
    [{ ...good(), code: null }, 'code'],
    [{ ...good(), code: '   ' }, 'code'],
    [{ ...good(), mfa_token: 42 }, 'mfa_token'],
    [{ ...good(), mfa_token: { $ne: '' } }, 'mfa_token'],
    [{ ...good(), mfa_token: '' }, 'mfa_token'],
    [{ ...good(), method: 'password' }, 'method'],
    [{ ...good(), method: 'webauthn' }, 'method'],
    [{ ...good(), method: 'TOTP' }, 'method'],
    [{ ...good(), method: ['totp'] }, 'method'],
  ];
  for (const [payload, field] of cases) {
    await t.test(JSON.stringify(payload).slice(0, 90), (t) => refused(t, { payload }, 400, 'VALIDATION_FAILED', field));
  }
  await t.test('an array body', (t) => refused(t, { payload: JSON.stringify([good()]), headers: json }, 400, 'VALIDATION_FAILED'));
  await t.test('a string body', (t) => refused(t, { payload: JSON.stringify('x'), headers: json }, 400, 'VALIDATION_FAILED'));
});

t.test('huge strings: refused by length or by the body limit', async (t) => {
  await t.test('a 129-character mfa_token', (t) =>
    refused(t, { payload: { ...good(), mfa_token: 'a'.repeat(129) } }, 400, 'VALIDATION_FAILED', 'mfa_token'),
  );
  await t.test('a 33-character code', (t) =>
    refused(t, { payload: { ...good(), code: '1'.repeat(33) } }, 400, 'VALIDATION_FAILED', 'code'),
  );
  await t.test('a 3,000-character code', (t) =>
    refused(t, { payload: { ...good(), code: '1'.repeat(3000) } }, 400, 'VALIDATION_FAILED', 'code'),
  );
  await t.test('a body over the limit', (t) => refused(t, { payload: { ...good(), code: '1'.repeat(10_000) } }, 413, 'BODY_TOO_LARGE'));
});

t.test('not JSON: malformed, empty, form-encoded, deep, prototype keys', async (t) => {
  await t.test('malformed', (t) => refused(t, { payload: '{"mfa_token": ', headers: json }, 400, 'MALFORMED_BODY'));
  await t.test('empty', (t) => refused(t, { payload: '', headers: json }, 400, 'MALFORMED_BODY'));
  await t.test('form-encoded (what a cross-site form can post)', (t) =>
    refused(
      t,
      {
        payload: new URLSearchParams({ mfa_token, method: 'totp', code: '123456' }).toString(),
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
      },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ),
  );
  await t.test('too deep', (t) =>
    refused(t, { payload: `{"code":${'['.repeat(40)}${']'.repeat(40)}}`, headers: json }, 400, 'BODY_TOO_DEEP'),
  );
  await t.test('__proto__', (t) =>
    refused(
      t,
      { payload: `{"mfa_token":"${mfa_token}","method":"totp","code":"1","__proto__":{"aal":2}}`, headers: json },
      400,
      'BODY_FORBIDDEN_KEY',
    ),
  );
});

t.test('none of that spent a try of the mfa_token, which still completes the login', async (t) => {
  const wrong = await secondStep(ctx, mfa_token, 'totp', '000000');
  t.equal(assertProblem(t, wrong, 401, 'MFA_CODE_INVALID').attempts_remaining, 4, 'four tries left after the first wrong code');
  const done = await secondStep(ctx, mfa_token, 'totp', nextTotp(user.secret, clock));
  t.equal(done.statusCode, 200, done.body);
});
