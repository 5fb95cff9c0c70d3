import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, uniqueEmail, type TestApp } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';
import { documentedResponses } from '../helpers/openapi.js';

type Res = Awaited<ReturnType<TestApp['app']['inject']>>;

async function loggedIn(ctx: TestApp) {
  const email = uniqueEmail('headers');
  const signup = await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password: GOOD_PASSWORD, name: 'Headers' } });
  if (signup.statusCode !== 202) throw new Error(`signup failed: ${signup.body}`);
  const login = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password: GOOD_PASSWORD } });
  if (login.statusCode !== 200) throw new Error(`login failed: ${login.body}`);
  const body = login.json() as { access_token: string; refresh_token: string; session_id: string };
  return { email, login, ...body, auth: { authorization: `Bearer ${body.access_token}` } };
}

const nested = (depth: number) => `${'{"a":'.repeat(depth - 1)}{"a":1}${'}'.repeat(depth - 1)}`;

t.test('X-Content-Type-Options: nosniff on every response, 404s and errors included', async (t) => {
  const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
  const user = await loggedIn(ctx);
  const responses: Array<[string, Res]> = [
    ['GET /healthz', await ctx.app.inject({ method: 'GET', url: '/healthz' })],
    ['GET /v1/me', await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })],
    ['GET /.well-known/jwks.json', await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })],
    ['GET /metrics', await ctx.app.inject({ method: 'GET', url: '/metrics' })],
    ['404', await ctx.app.inject({ method: 'GET', url: '/no/such/route' })],
    ['401', await ctx.app.inject({ method: 'GET', url: '/v1/me' })],
    ['400', await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: {} })],
    [
      '400 at the token endpoint',
      await ctx.app.inject({ method: 'POST', url: '/v1/token', headers: { 'content-type': 'application/json' }, payload: '{' }),
    ],
    ['415', await ctx.app.inject({ method: 'POST', url: '/v1/login', headers: { 'content-type': 'application/xml' }, payload: '<a/>' })],
    [
      'OPTIONS preflight',
      await ctx.app.inject({
        method: 'OPTIONS',
        url: '/v1/me',
        headers: { origin: 'https://x.test', 'access-control-request-method': 'PATCH' },
      }),
    ],
  ];
  for (const [what, res] of responses) t.equal(res.headers['x-content-type-options'], 'nosniff', `${what} (${res.statusCode})`);
});

t.test(
  'Cache-Control: no-store on everything that carries personal data or tokens, errors included; JWKS and discovery stay cacheable',
  async (t) => {
    const ctx = await buildTestApp(t, { env: { REQUIRE_EMAIL_VERIFICATION: 'false' } });
    const user = await loggedIn(ctx);
    const cookieLogin = await ctx.app.inject({
      method: 'POST',
      url: '/v1/login',
      payload: { email: user.email, password: GOOD_PASSWORD, mode: 'cookie' },
    });
    const private_: Array<[string, Res]> = [
      ['POST /v1/login', user.login],
      ['POST /v1/login (cookie mode)', cookieLogin],
      [
        'POST /v1/login 401',
        await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email: user.email, password: 'wrong-password-123' } }),
      ],
      ['GET /v1/me', await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: user.auth })],
      ['GET /v1/me 401', await ctx.app.inject({ method: 'GET', url: '/v1/me' })],
      ['GET /v1/me/sessions', await ctx.app.inject({ method: 'GET', url: '/v1/me/sessions', headers: user.auth })],
      ['GET /v1/me/security-events', await ctx.app.inject({ method: 'GET', url: '/v1/me/security-events', headers: user.auth })],
      [
        'POST /v1/token',
        await ctx.app.inject({
          method: 'POST',
          url: '/v1/token',
          payload: { grant_type: 'refresh_token', refresh_token: user.refresh_token },
        }),
      ],
      [
        'POST /v1/token 400',
        await ctx.app.inject({ method: 'POST', url: '/v1/token', payload: { grant_type: 'refresh_token', refresh_token: 'nope' } }),
      ],
      ['POST /v1/token/refresh 403', await ctx.app.inject({ method: 'POST', url: '/v1/token/refresh' })],
      ['404', await ctx.app.inject({ method: 'GET', url: '/v1/me/no-such-thing', headers: user.auth })],
    ];
    for (const [what, res] of private_) t.equal(res.headers['cache-control'], 'no-store', `${what} (${res.statusCode})`);
    t.equal(private_[0][1].statusCode, 200);
    t.equal(private_[3][1].statusCode, 200);
    t.equal(private_[7][1].statusCode, 200);

    const jwks = await ctx.app.inject({ method: 'GET', url: '/.well-known/jwks.json' });
    t.equal(jwks.headers['cache-control'], 'public, max-age=300, stale-while-revalidate=60', 'the JWKS is public');
    const discovery = await ctx.app.inject({ method: 'GET', url: '/.well-known/openid-configuration' });
    t.match(discovery.headers['cache-control'], /^public, max-age=\d+/, 'so is discovery');
  },
);

t.test('body parser errors are 400/415 problems with stable codes, never a 500', async (t) => {
  const ctx = await buildTestApp(t);
  const post = (url: string, payload: string, contentType = 'application/json') =>
    ctx.app.inject({ method: 'POST', url, headers: { 'content-type': contentType }, payload });

  for (const url of ['/v1/login', '/v1/signup', '/v1/token']) {
    assertProblem(t, await post(url, '{"email": '), 400, 'MALFORMED_BODY', `${url}: invalid JSON`);
    assertProblem(t, await post(url, ''), 400, 'MALFORMED_BODY', `${url}: empty JSON body`);
    assertProblem(t, await post(url, nested(33)), 400, 'BODY_TOO_DEEP', `${url}: 33 levels`);
    assertProblem(t, await post(url, `[${nested(32)}]`), 400, 'BODY_TOO_DEEP', `${url}: 33 levels, an array outside`);
    assertProblem(t, await post(url, '['.repeat(100_000)), 413, 'BODY_TOO_LARGE', `${url}: larger than the body limit`);
    assertProblem(t, await post(url, '['.repeat(30_000)), 400, 'BODY_TOO_DEEP', `${url}: 30000 levels within the body limit`);
    assertProblem(t, await post(url, '{"__proto__": {"admin": true}, "email": "a@b.co"}'), 400, 'BODY_FORBIDDEN_KEY', `${url}: __proto__`);
    assertProblem(
      t,
      await post(url, '{"email": "a@b.co", "x": {"constructor": {"prototype": {"admin": true}}}}'),
      400,
      'BODY_FORBIDDEN_KEY',
      `${url}: constructor.prototype`,
    );
    assertProblem(t, await post(url, '<login/>', 'application/xml'), 415, 'UNSUPPORTED_MEDIA_TYPE', `${url}: XML`);
    assertProblem(
      t,
      await post(url, '{"email": "a@b.co"}', 'application/x-json-but-not'),
      415,
      'UNSUPPORTED_MEDIA_TYPE',
      `${url}: an unknown type`,
    );
  }
  // At the token endpoint the problems also carry OAuth's `error`.
  t.equal((await post('/v1/token', nested(40))).json().error, 'invalid_request');

  // 32 levels are fine (the schema decides), and brackets inside strings are not nesting.
  const deepButAllowed = await post('/v1/login', nested(32));
  t.not(deepButAllowed.json().code, 'BODY_TOO_DEEP', '32 levels pass the parser');
  assertProblem(t, deepButAllowed, 400, 'VALIDATION_FAILED');
  const brackets = await post('/v1/login', JSON.stringify({ email: uniqueEmail(), password: `${'[{'.repeat(40)}\\"${'}]'.repeat(40)}` }));
  assertProblem(t, brackets, 401, 'INVALID_CREDENTIALS', 'brackets and escaped quotes inside a string are not nesting');
});

t.test('the 400 codes of the body parser are declared on every route (OpenAPI)', async (t) => {
  const ctx = await buildTestApp(t);
  const codes = documentedResponses(ctx.app).find((r) => r.path === '/v1/login' && r.method === 'POST' && r.status === 400)!.codes!;
  for (const code of ['MALFORMED_BODY', 'BODY_TOO_DEEP', 'BODY_FORBIDDEN_KEY', 'VALIDATION_FAILED']) t.ok(codes.includes(code), code);
});
