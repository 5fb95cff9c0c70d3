import t from 'tap';
import { buildTestApp, loggedInUser } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { userByEmail } from './support.js';

const ctx = await buildTestApp(t);

t.test("GET /v1/me returns the profile of the token's user", async (t) => {
  const user = await loggedInUser(ctx);
  const other = await loggedInUser(ctx);
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth });
  t.equal(res.statusCode, 200);
  const row = await userByEmail(ctx, user.email);
  t.same(res.json(), {
    id: row!.id,
    email: user.email,
    email_verified: true,
    name: 'Test User',
    locale: null,
    created_at: row!.created_at.toISOString(),
    mfa: { enabled: false, methods: [], factors: [], backup_codes_remaining: 0 },
  });
  t.notOk('password_hash' in res.json(), 'never the hash');
  t.equal(
    (await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: other.auth })).json().email,
    other.email,
    'another token, another profile',
  );
});

t.test('PATCH /v1/me updates name and locale; locale can be cleared with null', async (t) => {
  const user = await loggedInUser(ctx);
  const res = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/me',
    headers: user.auth,
    payload: { name: '  Ada Lovelace ', locale: 'pt-BR' },
  });
  t.equal(res.statusCode, 200, res.body);
  t.match(res.json(), { name: 'Ada Lovelace', locale: 'pt-BR', email: user.email });
  let row = await userByEmail(ctx, user.email);
  t.equal(row?.name, 'Ada Lovelace', 'stored trimmed');
  t.equal(row?.locale, 'pt-BR');

  const nameOnly = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { name: 'Ada' } });
  t.equal(nameOnly.statusCode, 200);
  t.equal(nameOnly.json().locale, 'pt-BR', 'an absent field is left alone');

  const cleared = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { locale: null } });
  t.equal(cleared.statusCode, 200);
  row = await userByEmail(ctx, user.email);
  t.equal(row?.locale, null);
  t.equal(row?.name, 'Ada');
  t.same((await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })).json().locale, null, 'GET agrees');
});

t.test('PATCH /v1/me rejects an invalid locale or an empty patch with 400 VALIDATION_FAILED and changes nothing', async (t) => {
  const user = await loggedInUser(ctx);
  await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: user.auth, payload: { locale: 'en' } });
  const before = await userByEmail(ctx, user.email);
  for (const payload of [
    { locale: 'english please' },
    { locale: 'e' },
    { locale: 'en_US' },
    { locale: `en-${'x'.repeat(40)}` },
    { locale: 'en', name: '' },
    {},
  ]) {
    await t.test(JSON.stringify(payload), async (t) => {
      const res = await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: user.auth, payload });
      const body = assertProblem(t, res, 400, 'VALIDATION_FAILED');
      if ('locale' in payload && payload.locale !== 'en')
        t.ok(
          body.errors?.some((e) => e.field === 'locale'),
          'names locale',
        );
      t.same(await userByEmail(ctx, user.email), before, 'unchanged');
    });
  }
});

t.test('GET and PATCH /v1/me without a token get 401 AUTHENTICATION_REQUIRED', async (t) => {
  const user = await loggedInUser(ctx);
  const before = await userByEmail(ctx, user.email);
  const get = await ctx.app.inject({ method: 'GET', url: '/v1/me' });
  assertProblem(t, get, 401, 'AUTHENTICATION_REQUIRED');
  t.equal(get.headers['www-authenticate'], 'Bearer');
  assertProblem(t, await ctx.app.inject({ method: 'PATCH', url: '/v1/me', payload: { name: 'Nobody' } }), 401, 'AUTHENTICATION_REQUIRED');
  assertProblem(
    t,
    await ctx.app.inject({ method: 'DELETE', url: '/v1/me', payload: { password: user.password } }),
    401,
    'AUTHENTICATION_REQUIRED',
  );
  assertProblem(
    t,
    await ctx.app.inject({
      method: 'POST',
      url: '/v1/me/password',
      payload: { current_password: user.password, new_password: 'another-fine-passphrase' },
    }),
    401,
    'AUTHENTICATION_REQUIRED',
  );
  const garbage = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: 'Bearer not-a-jwt' } });
  t.equal(garbage.statusCode, 401, 'a garbage token is 401 too');
  t.same(await userByEmail(ctx, user.email), before, 'nothing changed');
});
