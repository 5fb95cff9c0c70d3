import t from 'tap';
import { offsetClock } from '../../src/infra/clock.js';
import { buildTestApp, createVerifiedUser, type TestApp } from '../helpers/app.js';
import { assertProblem } from '../helpers/problem.js';

type SetCookie = { name: string; value: string; path?: string; domain?: string; secure?: boolean; httpOnly?: boolean; sameSite?: string };

/** A cookie-mode login: its cookies by role (access, refresh, csrf, whatever the names), the CSRF token and session. */
async function cookieLogin(ctx: TestApp, user: { email: string; password: string }) {
  const res = await ctx.app.inject({
    method: 'POST',
    url: '/v1/login',
    payload: { email: user.email, password: user.password, mode: 'cookie' },
  });
  if (res.statusCode !== 200) throw new Error(`cookie login failed: ${res.body}`);
  const cookies = res.cookies as SetCookie[];
  const role = (suffix: string) => cookies.find((c) => c.name.endsWith(suffix))!;
  const body = res.json() as { csrf_token: string; session_id: string };
  return { access: role('tessera_at'), refresh: role('tessera_rt'), csrf: role('tessera_csrf'), all: cookies, ...body };
}

const jar = (...cookies: SetCookie[]) => Object.fromEntries(cookies.map((c) => [c.name, c.value]));

t.test('COOKIE_SECURE (the default): __Host- names for the access and CSRF cookies, __Secure- for the refresh cookie', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { access, refresh, csrf, csrf_token } = await cookieLogin(ctx, user);
  t.match(access, { name: '__Host-tessera_at', path: '/', secure: true, httpOnly: true, sameSite: 'Strict' });
  t.match(csrf, { name: '__Host-tessera_csrf', path: '/', secure: true, sameSite: 'Strict', value: csrf_token });
  t.notOk(csrf.httpOnly, 'the page can read the CSRF cookie');
  t.match(refresh, { name: '__Secure-tessera_rt', path: '/v1/token', secure: true, httpOnly: true, sameSite: 'Strict' });
  for (const c of [access, csrf, refresh]) t.equal(c.domain, undefined, `${c.name} has no Domain (host-only)`);

  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', cookies: jar(access) });
  t.equal(me.statusCode, 200, 'the prefixed access cookie authenticates');
  const unprefixed = await ctx.app.inject({ method: 'GET', url: '/v1/me', cookies: { tessera_at: access.value } });
  assertProblem(t, unprefixed, 401, 'AUTHENTICATION_REQUIRED', 'an unprefixed cookie (plantable from a sibling domain) is not read');

  const logout = await ctx.app.inject({
    method: 'POST',
    url: '/v1/logout',
    cookies: jar(access, csrf),
    headers: { 'x-csrf-token': csrf_token },
  });
  t.equal(logout.statusCode, 204);
  const cleared = (logout.cookies as SetCookie[]).map((c) => c.name).sort();
  t.same(
    cleared.filter((n) => n.includes('tessera_') && !n.includes('device')),
    ['__Host-tessera_at', '__Host-tessera_csrf', '__Secure-tessera_rt'],
  );
});

t.test('COOKIE_SECURE=false (plain HTTP development): unprefixed names without Secure', async (t) => {
  const ctx = await buildTestApp(t, { env: { COOKIE_SECURE: 'false' } });
  const user = await createVerifiedUser(ctx);
  const { access, refresh, csrf, csrf_token } = await cookieLogin(ctx, user);
  t.match(access, { name: 'tessera_at', path: '/' });
  t.match(csrf, { name: 'tessera_csrf', path: '/' });
  t.match(refresh, { name: 'tessera_rt', path: '/v1/token' });
  for (const c of [access, csrf, refresh]) t.notOk(c.secure, `${c.name} is not Secure`);
  const renamed = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/me',
    cookies: jar(access, csrf),
    headers: { 'x-csrf-token': csrf_token },
    payload: { name: 'Plain HTTP' },
  });
  t.equal(renamed.statusCode, 200);
});

for (const secure of ['true', 'false']) {
  t.test(`a CSRF token of one session is refused with another session's cookies (COOKIE_SECURE=${secure})`, async (t) => {
    const clock = offsetClock();
    const ctx = await buildTestApp(t, { clock, env: { COOKIE_SECURE: secure } });
    // The attacker's own session and the victim's, as two logins (two users, or the same one twice).
    const attacker = await cookieLogin(ctx, await createVerifiedUser(ctx, { name: 'Attacker' }));
    const victimUser = await createVerifiedUser(ctx, { name: 'Victim' });
    const victim = await cookieLogin(ctx, victimUser);
    const sameUserOtherSession = await cookieLogin(ctx, victimUser);
    const nameOf = async () =>
      (await ctx.db.selectFrom('users').select('name').where('email', '=', victimUser.email).executeTakeFirstOrThrow()).name;

    for (const [label, other] of [
      ['another user', attacker],
      ['another session of the same user', sameUserOtherSession],
    ] as const) {
      // Header and CSRF cookie agree and are correctly signed: only the session differs.
      const mixed = await ctx.app.inject({
        method: 'PATCH',
        url: '/v1/me',
        cookies: jar(victim.access, other.csrf),
        headers: { 'x-csrf-token': other.csrf_token },
        payload: { name: 'Pwned' },
      });
      assertProblem(t, mixed, 403, 'CSRF_TOKEN_INVALID', `PATCH /v1/me with ${label}'s CSRF token`);
      const revoke = await ctx.app.inject({
        method: 'POST',
        url: '/v1/me/sessions/revoke-others',
        cookies: jar(victim.access, other.csrf),
        headers: { 'x-csrf-token': other.csrf_token },
        payload: {},
      });
      assertProblem(t, revoke, 403, 'CSRF_TOKEN_INVALID', `revoke-others with ${label}'s CSRF token`);

      const refreshed = await ctx.app.inject({
        method: 'POST',
        url: '/v1/token/refresh',
        cookies: jar(victim.refresh, other.csrf),
        headers: { 'x-csrf-token': other.csrf_token },
      });
      assertProblem(t, refreshed, 403, 'CSRF_TOKEN_INVALID', `refresh with ${label}'s CSRF token`);
      t.notOk(refreshed.headers['set-cookie'], 'no cookie is set');
    }
    t.equal(await nameOf(), 'Victim', 'nothing changed');
    const spent = await ctx.db
      .selectFrom('refresh_tokens')
      .select('used_at')
      .where('session_id', '=', victim.session_id)
      .where('used_at', 'is not', null)
      .execute();
    t.equal(spent.length, 0, "the victim's refresh token was not spent by the refused renewals");

    // A token whose session id is swapped for the victim's no longer matches its signature.
    const [, nonce, sig] = attacker.csrf_token.split('.');
    const forged = `${victim.session_id}.${nonce}.${sig}`;
    const forgedRes = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      cookies: { ...jar(victim.access), [victim.csrf.name]: forged },
      headers: { 'x-csrf-token': forged },
      payload: { name: 'Pwned' },
    });
    assertProblem(t, forgedRes, 403, 'CSRF_TOKEN_INVALID', 'a re-labelled token');

    // Past the reuse grace window: had the refusals spent the token, this would be reuse and end the session.
    clock.advance(30_000);
    const own = await ctx.app.inject({
      method: 'POST',
      url: '/v1/token/refresh',
      cookies: jar(victim.refresh, victim.csrf),
      headers: { 'x-csrf-token': victim.csrf_token },
    });
    t.equal(own.statusCode, 200, `the victim's own renewal works (${own.body})`);
    t.equal(own.json().session_id, victim.session_id);
    const renamed = await ctx.app.inject({
      method: 'PATCH',
      url: '/v1/me',
      cookies: jar(victim.access, victim.csrf),
      headers: { 'x-csrf-token': victim.csrf_token },
      payload: { name: 'Still Me' },
    });
    t.equal(renamed.statusCode, 200, "with the session's own token the request passes");
    t.equal(await nameOf(), 'Still Me');
  });
}

t.test('a renewed CSRF token is bound to the same session and the old cookies of another session do not mix in', async (t) => {
  const ctx = await buildTestApp(t);
  const a = await cookieLogin(ctx, await createVerifiedUser(ctx));
  const b = await cookieLogin(ctx, await createVerifiedUser(ctx));
  const renewed = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token/refresh',
    cookies: jar(a.refresh, a.csrf),
    headers: { 'x-csrf-token': a.csrf_token },
  });
  t.equal(renewed.statusCode, 200);
  const token = renewed.json().csrf_token as string;
  t.ok(token.startsWith(`${a.session_id}.`), 'the CSRF token names its session');
  const csrfCookie = (renewed.cookies as SetCookie[]).find((c) => c.name === a.csrf.name)!;
  const withB = await ctx.app.inject({
    method: 'PATCH',
    url: '/v1/me',
    cookies: jar(b.access, csrfCookie),
    headers: { 'x-csrf-token': token },
    payload: { name: 'Mixed' },
  });
  assertProblem(t, withB, 403, 'CSRF_TOKEN_INVALID');
});
