/**
 * Cookie mode in a real browser (Debian's Chromium driven by playwright-core): the cookie
 * attributes, the double-submit CSRF header, CORS for an allowed and a disallowed origin on the
 * same site, and SameSite=Strict against a different site.
 *
 * Origins in play (cookies ignore ports, so every 127.0.0.1 origin is the same site as the API):
 * - API          http://127.0.0.1:<api>
 * - ALLOWED      http://127.0.0.1:<A>   listed in CORS_ORIGINS
 * - DISALLOWED   http://127.0.0.1:<B>   same site, not listed
 * - OTHER SITE   http://localhost:<C>   a different site: SameSite=Strict cookies never go along
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { buildTestApp, GOOD_PASSWORD, uniqueEmail, type TestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { CHROMIUM, launchChromium } from './chromium.js';

const ACCESS = '__Host-tessera_at';
const REFRESH = '__Secure-tessera_rt';
const CSRF = '__Host-tessera_csrf';

if (!existsSync(CHROMIUM)) {
  // One visible skip (the harness counts it as skipped, not as a file without results).
  t.test('cookie mode in a real browser', { skip: `${CHROMIUM} is not installed (apt-get install -y chromium); CI installs it` }, () => {});
} else {
  await run();
}

async function listen(server: Server, host: string): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, host, resolve));
  return (server.address() as AddressInfo).port;
}

/** A plain page to run fetch() from: its origin is all that matters. */
async function pageServer(host: string): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html><head><meta charset="utf-8"><title>test page</title></head><body></body></html>');
  });
  const port = await listen(server, '127.0.0.1');
  return { server, origin: `http://${host}:${port}` };
}

type FetchResult = { ok: true; status: number; body: unknown } | { ok: false; error: string };

async function run() {
  const allowed = await pageServer('127.0.0.1');
  const disallowed = await pageServer('127.0.0.1');
  const otherSite = await pageServer('localhost');
  t.teardown(() => Promise.all([allowed, disallowed, otherSite].map(({ server }) => new Promise((r) => server.close(r)))));

  const ctx = await buildTestApp(t, { env: { CORS_ORIGINS: allowed.origin, REQUIRE_EMAIL_VERIFICATION: 'false' } });
  await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  const api = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;

  const browser: Browser = await launchChromium(t);

  /** fetch() from inside the page, with the page's origin and the browser's cookie jar. */
  function pageFetch(
    page: Page,
    path: string,
    init: { method?: string; headers?: Record<string, string>; body?: string; mode?: RequestMode } = {},
  ) {
    return page.evaluate(
      async ({ url, init }): Promise<FetchResult> => {
        try {
          const res = await fetch(url, { credentials: 'include', ...init });
          const text = await res.text();
          let body: unknown = text;
          try {
            body = text ? JSON.parse(text) : null;
          } catch {
            /* not JSON */
          }
          return { ok: true, status: res.status, body };
        } catch (err) {
          return { ok: false, error: String(err) };
        }
      },
      { url: api + path, init },
    );
  }

  const json = (csrf?: string) => ({ 'content-type': 'application/json', ...(csrf ? { 'x-csrf-token': csrf } : {}) });

  async function signup(name = 'Cookie User') {
    const email = uniqueEmail('browser');
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password: GOOD_PASSWORD, name } });
    if (res.statusCode !== 202) throw new Error(`signup failed: ${res.body}`);
    return email;
  }

  async function openPage(context: BrowserContext, origin: string): Promise<Page> {
    const page = await context.newPage();
    await page.goto(origin + '/');
    return page;
  }

  /** A fresh browser profile with a user logged in (cookie mode) from the allowed origin. */
  async function loggedInContext(t: Test) {
    const email = await signup();
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await openPage(context, allowed.origin);
    const login = await pageFetch(page, '/v1/login', {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({ email, password: GOOD_PASSWORD, mode: 'cookie' }),
    });
    if (!login.ok || login.status !== 200) throw new Error(`cookie login failed: ${JSON.stringify(login)}`);
    const body = login.body as { csrf_token: string; session_id: string };
    return { email, context, page, csrf: body.csrf_token, sessionId: body.session_id };
  }

  async function userRow(c: TestApp, email: string) {
    return c.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
  }

  /** The status the server answered a request with, from its own request log (lines after `since`). */
  async function serverStatus(since: number, method: string, url: string): Promise<number | undefined> {
    const done = await eventually(
      () => {
        const lines = ctx.logs
          .slice(since)
          .map(
            (l) =>
              JSON.parse(l) as { msg?: string; reqId?: string; req?: { method?: string; url?: string }; res?: { statusCode?: number } },
          );
        const incoming = lines.find((l) => l.msg === 'incoming request' && l.req?.method === method && l.req?.url === url);
        return incoming && lines.find((l) => l.msg === 'request completed' && l.reqId === incoming.reqId);
      },
      { timeoutMs: 2000, intervalMs: 20 },
    ).catch(() => undefined);
    return done?.res?.statusCode;
  }

  t.test('allowed origin: cookie login, HttpOnly cookies, CSRF header required, refresh and logout', async (t) => {
    const email = await signup('Before');
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const page = await openPage(context, allowed.origin);

    const login = await pageFetch(page, '/v1/login', {
      method: 'POST',
      headers: json(),
      body: JSON.stringify({ email, password: GOOD_PASSWORD, mode: 'cookie' }),
    });
    t.ok(login.ok, JSON.stringify(login));
    if (!login.ok) return;
    t.equal(login.status, 200, JSON.stringify(login.body));
    const body = login.body as Record<string, unknown>;
    t.equal(body.status, 'authenticated');
    t.equal(body.token_type, 'cookie');
    t.type(body.csrf_token, 'string');
    t.type(body.session_id, 'string');
    t.notOk('access_token' in body, 'no access token in the body');
    t.notOk('refresh_token' in body, 'no refresh token in the body');
    let csrf = body.csrf_token as string;

    const cookies = await context.cookies();
    const byName = (n: string) => cookies.find((c) => c.name === n);
    // Secure cookies (COOKIE_SECURE, the default) carry the prefixes browsers enforce.
    const at = byName(ACCESS);
    const rt = byName(REFRESH);
    const cs = byName(CSRF);
    t.ok(at, `the browser stored ${ACCESS}`);
    t.ok(rt, `the browser stored ${REFRESH}`);
    t.ok(cs, `the browser stored ${CSRF}`);
    t.match(at, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/', domain: '127.0.0.1' });
    t.match(rt, { httpOnly: true, secure: true, sameSite: 'Strict', path: '/v1/token' });
    t.match(cs, { httpOnly: false, secure: true, sameSite: 'Strict', path: '/', value: csrf });

    const visible = await page.evaluate(() => document.cookie);
    t.notMatch(visible, /tessera_at=/, 'scripts cannot read the access cookie');
    t.notMatch(visible, /tessera_rt=/, 'scripts cannot read the refresh cookie');
    t.match(visible, /tessera_csrf=/, 'scripts can read the CSRF cookie');

    const me = await pageFetch(page, '/v1/me');
    t.match(me, { ok: true, status: 200, body: { email } });

    const patched = await pageFetch(page, '/v1/me', {
      method: 'PATCH',
      headers: json(csrf),
      body: JSON.stringify({ name: 'Renamed In Browser' }),
    });
    t.match(patched, { ok: true, status: 200, body: { name: 'Renamed In Browser' } });
    t.equal((await userRow(ctx, email)).name, 'Renamed In Browser');

    const noHeader = await pageFetch(page, '/v1/me', { method: 'PATCH', headers: json(), body: JSON.stringify({ name: 'No Header' }) });
    t.match(noHeader, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });
    const [nonce] = csrf.split('.');
    const wrong = await pageFetch(page, '/v1/me', {
      method: 'PATCH',
      headers: json(`${nonce}.AAAA`),
      body: JSON.stringify({ name: 'Wrong Header' }),
    });
    t.match(wrong, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });
    t.equal((await userRow(ctx, email)).name, 'Renamed In Browser', 'rejected requests changed nothing');

    const refreshNoHeader = await pageFetch(page, '/v1/token/refresh', { method: 'POST' });
    t.match(refreshNoHeader, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });

    const refreshed = await pageFetch(page, '/v1/token/refresh', { method: 'POST', headers: { 'x-csrf-token': csrf } });
    t.match(refreshed, { ok: true, status: 200, body: { status: 'authenticated', token_type: 'cookie', session_id: body.session_id } });
    if (refreshed.ok) {
      const r = refreshed.body as Record<string, unknown>;
      t.notOk('access_token' in r || 'refresh_token' in r, 'no tokens in the refresh body');
      csrf = r.csrf_token as string;
    }
    const after = await context.cookies();
    const newAt = after.find((c) => c.name === ACCESS);
    const newRt = after.find((c) => c.name === REFRESH);
    t.not(newAt?.value, at?.value, 'a fresh access cookie');
    t.not(newRt?.value, rt?.value, 'a rotated refresh cookie');
    t.equal(after.find((c) => c.name === CSRF)?.value, csrf, 'the CSRF cookie matches the new body');
    t.match(await pageFetch(page, '/v1/me'), { ok: true, status: 200, body: { email } });

    const logout = await pageFetch(page, '/v1/logout', { method: 'POST', headers: { 'x-csrf-token': csrf } });
    t.match(logout, { ok: true, status: 204 });
    const left = (await context.cookies()).map((c) => c.name).filter((n) => [ACCESS, REFRESH, CSRF].includes(n));
    t.same(left, [], 'logout cleared every cookie');
    t.match(await pageFetch(page, '/v1/me'), { ok: true, status: 401 });
    const session = await ctx.db
      .selectFrom('sessions')
      .select(['revoked_at', 'revoked_reason'])
      .where('id', '=', body.session_id as string)
      .executeTakeFirstOrThrow();
    t.ok(session.revoked_at, 'the session is revoked in the database');
  });

  t.test("two logins mixed: one session's CSRF token is refused with the other session's cookies (403 CSRF_TOKEN_INVALID)", async (t) => {
    const a = await loggedInContext(t);
    const b = await loggedInContext(t);
    t.not(a.sessionId, b.sessionId);
    t.ok(a.csrf.startsWith(`${a.sessionId}.`), 'the CSRF token names its session');
    const csrfCookieOf = async (context: BrowserContext) => (await context.cookies()).find((c) => c.name === CSRF)!;
    const bCsrfCookie = await csrfCookieOf(b.context);

    // In B's browser, A's CSRF token in both places: the double submit agrees and the signature
    // holds, only the session is not B's (what an attacker holding a token of their own would try).
    await b.context.addCookies([{ ...bCsrfCookie, value: a.csrf }]);
    t.equal((await csrfCookieOf(b.context)).value, a.csrf, "B's browser now holds A's CSRF cookie");
    const patched = await pageFetch(b.page, '/v1/me', { method: 'PATCH', headers: json(a.csrf), body: JSON.stringify({ name: 'Mixed' }) });
    t.match(patched, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });
    const refreshed = await pageFetch(b.page, '/v1/token/refresh', { method: 'POST', headers: { 'x-csrf-token': a.csrf } });
    t.match(refreshed, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });
    const logout = await pageFetch(b.page, '/v1/logout', { method: 'POST', headers: { 'x-csrf-token': a.csrf } });
    t.match(logout, { ok: true, status: 403, body: { code: 'CSRF_TOKEN_INVALID' } });
    t.equal((await userRow(ctx, b.email)).name, 'Cookie User', 'nothing changed');

    // B's own token still works: the refusals spent nothing.
    await b.context.addCookies([bCsrfCookie]);
    const own = await pageFetch(b.page, '/v1/token/refresh', { method: 'POST', headers: { 'x-csrf-token': b.csrf } });
    t.match(own, { ok: true, status: 200, body: { session_id: b.sessionId } });
    const renewed = own.ok ? (own.body as { csrf_token: string }).csrf_token : '';
    const renamed = await pageFetch(b.page, '/v1/me', {
      method: 'PATCH',
      headers: json(renewed),
      body: JSON.stringify({ name: 'B Itself' }),
    });
    t.match(renamed, { ok: true, status: 200, body: { name: 'B Itself' } });
    t.match(await pageFetch(a.page, '/v1/me'), { ok: true, status: 200, body: { email: a.email } }, 'A is untouched');
  });

  t.test('disallowed origin on the same site: preflight blocks the JSON call, a simple POST lacks the CSRF header', async (t) => {
    const { email, context, page: good, csrf, sessionId } = await loggedInContext(t);
    const evil = await openPage(context, disallowed.origin);

    // The attacker page can even read the CSRF cookie (cookies ignore ports), but cannot send it
    // in a header: that needs a preflight, which the CORS allow-list refuses.
    const rename = await pageFetch(evil, '/v1/me', { method: 'PATCH', headers: json(csrf), body: JSON.stringify({ name: 'Pwned' }) });
    t.match(rename, { ok: false, error: /TypeError|Failed to fetch/ }, 'fetch rejects: CORS preflight refused');
    const revoke = await pageFetch(evil, '/v1/me/sessions/revoke-others', { method: 'POST', headers: json(csrf), body: '{}' });
    t.match(revoke, { ok: false }, 'fetch rejects: CORS preflight refused');
    t.equal((await userRow(ctx, email)).name, 'Cookie User', 'the name did not change');

    // A "simple" request needs no preflight: it reaches the server with the cookies but without
    // the header. The answer is unreadable to the page, so the server's log tells what it said:
    // 403 (cookie seen, header missing), not 401 (no cookie).
    let mark = ctx.logs.length;
    const plain = await pageFetch(evil, '/v1/logout', { method: 'POST', headers: { 'content-type': 'text/plain' }, body: 'x' });
    t.match(plain, { ok: false }, 'the page cannot read the cross-origin answer');
    t.equal(await serverStatus(mark, 'POST', '/v1/logout'), 403, 'the server refused the simple POST for want of the CSRF header');

    // The classic CSRF shape: no-cors, text/plain, to revoke-others.
    const sent = evil.waitForResponse((r) => r.url() === `${api}/v1/me/sessions/revoke-others`);
    mark = ctx.logs.length;
    const noCors = await pageFetch(evil, '/v1/me/sessions/revoke-others', {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'content-type': 'text/plain' },
      body: '{}',
    });
    t.match(noCors, { ok: true, status: 0 }, 'an opaque no-cors response');
    const noCorsRes = await sent;
    // 403 (cookie seen, no header) rather than 401 (no cookie): the cookie went along.
    t.equal(noCorsRes.status(), 403, 'the server refused the no-cors POST');
    t.equal(await serverStatus(mark, 'POST', '/v1/me/sessions/revoke-others'), 403);

    // A real <form method=post> is a navigation: no CORS at all, and the answer is on screen.
    const [formRes] = await Promise.all([
      evil.waitForResponse((r) => r.url() === `${api}/v1/logout`),
      evil.evaluate((action) => {
        const form = document.createElement('form');
        form.method = 'POST';
        form.action = action;
        const input = document.createElement('input');
        input.name = 'x';
        input.value = '1';
        form.append(input);
        document.body.append(form);
        form.submit();
      }, `${api}/v1/logout`),
    ]);
    // Form bodies are accepted only at /v1/token, so the form is refused before the guard runs.
    t.equal(formRes.status(), 415);
    t.match(await formRes.json(), { code: 'UNSUPPORTED_MEDIA_TYPE' });
    t.match(await formRes.request().allHeaders(), { cookie: /tessera_at=/ }, 'the form post carried the session cookie');

    const session = await ctx.db.selectFrom('sessions').select('revoked_at').where('id', '=', sessionId).executeTakeFirstOrThrow();
    t.equal(session.revoked_at, null, 'the session was not revoked');
    t.match(await pageFetch(good, '/v1/me'), { ok: true, status: 200, body: { email } }, 'the session still works from the allowed page');
  });

  t.test('different site (localhost): SameSite=Strict cookies are not sent, so logout does nothing', async (t) => {
    const { email, context, page: good, sessionId } = await loggedInContext(t);
    const other = await openPage(context, otherSite.origin);

    const sent = other.waitForResponse((r) => r.url() === `${api}/v1/logout`);
    const noCors = await pageFetch(other, '/v1/logout', {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'content-type': 'text/plain' },
      body: 'x',
    });
    t.match(noCors, { ok: true, status: 0 }, 'an opaque no-cors response');
    const res = await sent;
    t.equal(res.status(), 401, 'the server saw no session cookie');
    t.notMatch((await res.request().allHeaders()).cookie ?? '', /tessera_/, 'no tessera cookie was sent');

    const session = await ctx.db.selectFrom('sessions').select('revoked_at').where('id', '=', sessionId).executeTakeFirstOrThrow();
    t.equal(session.revoked_at, null, 'the session was not revoked');
    t.match(await pageFetch(good, '/v1/me'), { ok: true, status: 200, body: { email } }, 'the session still works');
  });
}
