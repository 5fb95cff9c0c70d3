import t, { type Test } from 'tap';
import type { InjectOptions } from 'fastify';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { aal2Login, auditOf, manualClock, nextTotp, reauthenticate, userWithTotp } from './flow-support.js';

// One app for the file; every case checks that nothing was written (the session's freshness, the
// factors, the backup codes, the audit trail).
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock, env: { BODY_LIMIT_BYTES: '4096' } });
const user = await userWithTotp(ctx, clock);
// A fresh aal2 session, so the step-up route would go through with a good request.
const session = await aal2Login(ctx, user, clock);
await auditOf(ctx, user.id, (rows) => rows.filter((r) => r.action === 'session.login').length >= 2);

async function snapshot() {
  const [sessions, codes, factors, audit] = await Promise.all([
    ctx.db.selectFrom('sessions').select(['id', 'aal', 'amr', 'auth_at', 'auth_aal', 'revoked_at']).orderBy('id').execute(),
    ctx.db.selectFrom('mfa_backup_codes').select(['code_hash', 'used_at']).orderBy('code_hash').execute(),
    ctx.db.selectFrom('mfa_factors').select(['id', 'last_used_step', 'last_used_at']).orderBy('id').execute(),
    ctx.db
      .selectFrom('audit_events')
      .select((eb) => eb.fn.countAll<string>().as('n'))
      .executeTakeFirstOrThrow(),
  ]);
  return { sessions, codes, factors, audit: audit.n };
}

const json = { 'content-type': 'application/json' };

async function refused(t: Test, request: InjectOptions, status: number, code: string, field?: string) {
  const before = await snapshot();
  const res = await ctx.app.inject({ method: 'POST', ...request, headers: { ...session.auth, ...(request.headers ?? {}) } });
  t.not(res.statusCode, 500, 'never a 500');
  const body = assertProblem(t, res, status, code);
  if (field)
    t.ok(
      body.errors?.some((e) => e.field.startsWith(field)),
      `names ${field}: ${JSON.stringify(body.errors)}`,
    );
  await new Promise((r) => setTimeout(r, 20));
  t.same(await snapshot(), before, 'nothing written');
}

t.test('POST /v1/me/reauthenticate', async (t) => {
  const url = '/v1/me/reauthenticate';
  const cases: Array<[string, unknown, string?]> = [
    ['empty object', {}],
    ['password and a method at once', { password: user.password, method: 'totp', code: '123456' }],
    ['a method without its code', { method: 'totp' }],
    ['a code without its method', { code: '123456' }],
    ['webauthn with a code', { method: 'webauthn', code: '123456' }],
    ['totp with a WebAuthn response', { method: 'totp', response: {} }],
    ['an unknown method', { method: 'password', code: 'x' }],
    ['a number password', { password: 12345678 }],
    ['a null password', { password: null }],
    ['an empty password', { password: '' }],
    ['a number code', { method: 'totp', code: 123456 }],
    ['a blank code', { method: 'totp', code: '   ' }],
    ['extra fields', { method: 'totp', code: '123456', aal: 2 }],
    ['an extra session id', { password: user.password, session_id: session.session_id }],
    ['a 33-character code', { method: 'backup_code', code: 'a'.repeat(33) }],
    ['a 1,025-character password', { password: 'p'.repeat(1025) }],
    ['an array', [{ password: user.password }]],
  ];
  for (const [label, payload] of cases) {
    await t.test(label, (t) => refused(t, { url, payload: JSON.stringify(payload), headers: json }, 400, 'VALIDATION_FAILED'));
  }
  await t.test('over the body limit', (t) => refused(t, { url, payload: { password: 'p'.repeat(5000) } }, 413, 'BODY_TOO_LARGE'));
  await t.test('malformed', (t) => refused(t, { url, payload: '{"password":', headers: json }, 400, 'MALFORMED_BODY'));
  await t.test('empty', (t) => refused(t, { url, payload: '', headers: json }, 400, 'MALFORMED_BODY'));
  await t.test('form-encoded', (t) =>
    refused(
      t,
      { url, payload: `password=${user.password}`, headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ),
  );
});

t.test('POST /v1/me/reauthenticate/challenge', async (t) => {
  const url = '/v1/me/reauthenticate/challenge';
  const cases: Array<[string, unknown, string?]> = [
    ['empty object', {}, 'method'],
    ['a method without a challenge', { method: 'totp' }, 'method'],
    ['an unknown method', { method: 'carrier-pigeon' }, 'method'],
    ['a number', { method: 1 }, 'method'],
    ['extra fields', { method: 'sms', phone: '+15551234567' }],
    ['a huge method', { method: 's'.repeat(3000) }, 'method'],
  ];
  for (const [label, payload, field] of cases) {
    await t.test(label, (t) => refused(t, { url, payload: payload as Record<string, unknown> }, 400, 'VALIDATION_FAILED', field));
  }
  await t.test('malformed', (t) => refused(t, { url, payload: '{', headers: json }, 400, 'MALFORMED_BODY'));
  // Well formed, but this account has no phone and no key.
  await t.test('sms without a phone', (t) => refused(t, { url, payload: { method: 'sms' } }, 400, 'MFA_METHOD_UNAVAILABLE'));
  await t.test('webauthn without a key', (t) => refused(t, { url, payload: { method: 'webauthn' } }, 400, 'MFA_METHOD_UNAVAILABLE'));
});

t.test('POST /v1/me/mfa/backup-codes takes no body: anything in one is refused, and no codes are made', async (t) => {
  const url = '/v1/me/mfa/backup-codes';
  const cases: Array<[string, unknown]> = [
    ['a field', { count: 1000 }],
    ['codes of its own', { backup_codes: ['aaaaa-aaaaa'] }],
    ['an array', []],
    ['a string', 'x'],
  ];
  for (const [label, payload] of cases) {
    await t.test(label, (t) => refused(t, { url, payload: JSON.stringify(payload), headers: json }, 400, 'VALIDATION_FAILED'));
  }
  await t.test('malformed', (t) => refused(t, { url, payload: '{"count":', headers: json }, 400, 'MALFORMED_BODY'));
  await t.test('form-encoded', (t) =>
    refused(
      t,
      { url, payload: 'count=5', headers: { 'content-type': 'application/x-www-form-urlencoded' } },
      415,
      'UNSUPPORTED_MEDIA_TYPE',
    ),
  );
  // The good requests: no body, and an empty object (a JSON null is read as no body, as Fastify does for every route).
  for (const request of [{}, { payload: {} }]) {
    const res = await ctx.app.inject({ method: 'POST', url, headers: session.auth, ...request });
    t.equal(res.statusCode, 200, `${JSON.stringify(request)}: ${res.body.slice(0, 100)}`);
  }
});

t.test('the session is still the fresh aal2 it was, and a good reauthentication works', async (t) => {
  const res = await reauthenticate(ctx, session.auth, { method: 'totp', code: nextTotp(user.secret, clock) });
  t.equal(res.statusCode, 200, res.body);
  t.equal(res.json().aal, 2);
});
