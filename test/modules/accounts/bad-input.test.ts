import t, { type Test } from 'tap';
import type { InjectOptions, LightMyRequestResponse } from 'fastify';
import { buildTestApp, GOOD_PASSWORD, loggedInUser, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { countUsers } from './support.js';

// One app for the file; every case checks that nothing was written.
const ctx = await buildTestApp(t, { env: { BODY_LIMIT_BYTES: '4096' } });
const user = await loggedInUser(ctx);

async function badRequest(t: Test, request: InjectOptions, status: number, code: string) {
  const before = await countUsers(ctx);
  const updatedBefore = await ctx.db.selectFrom('users').select(['id', 'name', 'locale', 'updated_at']).orderBy('id').execute();
  const res: LightMyRequestResponse = await ctx.app.inject(request);
  t.not(res.statusCode, 500, 'never a 500');
  t.ok(res.statusCode >= 400 && res.statusCode < 500, `a 4xx (${res.statusCode})`);
  const body = assertProblem(t, res, status, code);
  t.notMatch(res.body, /node_modules|\/work\/|src\//, 'no file paths');
  t.equal(await countUsers(ctx), before, 'no users row written');
  t.same(
    await ctx.db.selectFrom('users').select(['id', 'name', 'locale', 'updated_at']).orderBy('id').execute(),
    updatedBefore,
    'no users row changed',
  );
  return body;
}

const json = { 'content-type': 'application/json' };

t.test('malformed JSON gets 400 MALFORMED_BODY as problem+json with a request id', async (t) => {
  for (const payload of ['{"email": "a@b.co", "password": ', '{bad json}', "{'email':'a@b.co'}", '']) {
    await t.test(JSON.stringify(payload), async (t) => {
      await badRequest(t, { method: 'POST', url: '/v1/signup', headers: json, payload }, 400, 'MALFORMED_BODY');
    });
  }
  await badRequest(t, { method: 'PATCH', url: '/v1/me', headers: { ...json, ...user.auth }, payload: '{"name":' }, 400, 'MALFORMED_BODY');
});

t.test('wrong types get 400 VALIDATION_FAILED naming the field', async (t) => {
  const cases: Array<[Record<string, unknown> | unknown[], string]> = [
    [{ email: uniqueEmail(), password: 12345678901, name: 'X' }, 'password'],
    [{ email: ['a@b.co'], password: GOOD_PASSWORD, name: 'X' }, 'email'],
    [{ email: uniqueEmail(), password: GOOD_PASSWORD, name: { first: 'X' } }, 'name'],
    [{ email: uniqueEmail(), password: GOOD_PASSWORD, name: null }, 'name'],
    [{ email: uniqueEmail(), password: GOOD_PASSWORD }, 'name'],
    [{ email: uniqueEmail(), password: GOOD_PASSWORD, name: 'X', locale: 42 }, 'locale'],
  ];
  for (const [payload, field] of cases) {
    await t.test(`${field}: ${JSON.stringify(payload).slice(0, 80)}`, async (t) => {
      const body = await badRequest(t, { method: 'POST', url: '/v1/signup', payload }, 400, 'VALIDATION_FAILED');
      t.ok(
        body.errors?.some((e) => e.field === field),
        `errors list ${field}: ${JSON.stringify(body.errors)}`,
      );
      t.match(body.detail, field);
    });
  }
  await t.test('an array instead of an object', async (t) => {
    await badRequest(t, { method: 'POST', url: '/v1/signup', payload: JSON.stringify([1, 2]), headers: json }, 400, 'VALIDATION_FAILED');
  });
  await t.test('a number as the login password', async (t) => {
    await badRequest(t, { method: 'POST', url: '/v1/login', payload: { email: user.email, password: 1 } }, 400, 'VALIDATION_FAILED');
  });
});

t.test('an invalid email gets 400 VALIDATION_FAILED on signup, login, resend and forgot', async (t) => {
  for (const email of ['not-an-email', 'a@', '@example.com', 'a b@example.com', `${'x'.repeat(250)}@example.com`]) {
    await t.test(email.slice(0, 40), async (t) => {
      const body = await badRequest(
        t,
        { method: 'POST', url: '/v1/signup', payload: { email, password: GOOD_PASSWORD, name: 'X' } },
        400,
        'VALIDATION_FAILED',
      );
      t.same(
        body.errors?.map((e) => e.field),
        ['email'],
      );
    });
  }
  for (const url of ['/v1/login', '/v1/email/verify/resend', '/v1/password/forgot']) {
    await t.test(url, async (t) => {
      const payload = url === '/v1/login' ? { email: 'nope', password: GOOD_PASSWORD } : { email: 'nope' };
      await badRequest(t, { method: 'POST', url, payload }, 400, 'VALIDATION_FAILED');
    });
  }
});

t.test('a 101-character name gets 400 VALIDATION_FAILED (100 is the limit)', async (t) => {
  const body = await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', payload: { email: uniqueEmail(), password: GOOD_PASSWORD, name: 'n'.repeat(101) } },
    400,
    'VALIDATION_FAILED',
  );
  t.same(
    body.errors?.map((e) => e.field),
    ['name'],
  );
  await badRequest(t, { method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { name: 'n'.repeat(101) } }, 400, 'VALIDATION_FAILED');
  await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', payload: { email: uniqueEmail(), password: GOOD_PASSWORD, name: '   ' } },
    400,
    'VALIDATION_FAILED',
  );

  const email = uniqueEmail();
  const ok = await ctx.app.inject({
    method: 'POST',
    url: '/v1/signup',
    payload: { email, password: GOOD_PASSWORD, name: 'n'.repeat(100) },
  });
  t.equal(ok.statusCode, 202, 'exactly 100 characters is accepted');
});

t.test('a body over BODY_LIMIT_BYTES gets 413 BODY_TOO_LARGE', async (t) => {
  t.equal(ctx.config.bodyLimit, 4096);
  const payload = JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, name: 'X', pad: 'p'.repeat(5000) });
  await badRequest(t, { method: 'POST', url: '/v1/signup', headers: json, payload }, 413, 'BODY_TOO_LARGE');
  await badRequest(
    t,
    { method: 'PATCH', url: '/v1/me', headers: { ...json, ...user.auth }, payload: JSON.stringify({ name: 'n'.repeat(5000) }) },
    413,
    'BODY_TOO_LARGE',
  );
});

t.test('an unknown route gets 404 ROUTE_NOT_FOUND', async (t) => {
  const body = await badRequest(t, { method: 'GET', url: '/v1/nope?x=1' }, 404, 'ROUTE_NOT_FOUND');
  t.notMatch(body.detail, /x=1/, 'the query string is not echoed');
  await badRequest(
    t,
    { method: 'POST', url: '/v1/signups', payload: { email: uniqueEmail(), password: GOOD_PASSWORD, name: 'X' } },
    404,
    'ROUTE_NOT_FOUND',
  );
  await badRequest(t, { method: 'PUT', url: '/v1/me', headers: user.auth, payload: { name: 'X' } }, 404, 'ROUTE_NOT_FOUND');
});

t.test('a text/plain body gets 415 UNSUPPORTED_MEDIA_TYPE', async (t) => {
  const payload = JSON.stringify({ email: uniqueEmail(), password: GOOD_PASSWORD, name: 'X' });
  await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', headers: { 'content-type': 'text/plain' }, payload },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', headers: { 'content-type': 'application/xml' }, payload: '<signup/>' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
  await badRequest(
    t,
    { method: 'PATCH', url: '/v1/me', headers: { 'content-type': 'text/plain', ...user.auth }, payload: '{"name":"Y"}' },
    415,
    'UNSUPPORTED_MEDIA_TYPE',
  );
});

t.test('unknown fields get 400 VALIDATION_FAILED naming them', async (t) => {
  const body = await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', payload: { email: uniqueEmail(), password: GOOD_PASSWORD, name: 'X', nickname: 'x' } },
    400,
    'VALIDATION_FAILED',
  );
  t.same(body.errors, [{ field: 'nickname', message: 'Unknown field' }]);
});

t.test('a NUL or other control character in a name is a 400, not a database error', async (t) => {
  await badRequest(
    t,
    { method: 'POST', url: '/v1/signup', payload: { email: uniqueEmail(), password: GOOD_PASSWORD, name: 'a\u0000b' } },
    400,
    'VALIDATION_FAILED',
  );
  await badRequest(t, { method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { name: 'line\nbreak' } }, 400, 'VALIDATION_FAILED');
});
