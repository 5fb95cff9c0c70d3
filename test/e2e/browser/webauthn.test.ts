/**
 * WebAuthn in a real browser (Debian's Chromium driven by playwright-core): a test page calls
 * `navigator.credentials.create/get` with Tessera's options and posts `credential.toJSON()`
 * back, exactly as a frontend would. The authenticators are Chromium's virtual ones (CDP
 * `WebAuthn.addVirtualAuthenticator`): a CTAP2 USB security key without resident keys or user
 * verification, and an internal platform authenticator with both.
 *
 * Origins in play (WebAuthn needs a secure context and a domain as RP ID: http://localhost is both):
 * - API      http://127.0.0.1:<api>        Tessera, WEBAUTHN_RP_ID=localhost
 * - PAGE     http://localhost:<A>          in WEBAUTHN_ORIGINS and CORS_ORIGINS
 * - ELSEWHERE http://localhost:<B>         in CORS_ORIGINS only: the browser lets it use RP ID
 *                                          "localhost", so only Tessera's origin check stops it
 */
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import t, { type Test } from 'tap';
import type { Browser, Page } from 'playwright-core';
import { buildTestApp, createVerifiedUser } from '../../helpers/app.js';
import { CHROMIUM, launchChromium } from './chromium.js';

/** The two virtual authenticators the issue asks for. */
const SECURITY_KEY = {
  protocol: 'ctap2',
  transport: 'usb',
  hasResidentKey: false,
  hasUserVerification: false,
  isUserVerified: false,
  automaticPresenceSimulation: true,
} as const;
const PLATFORM = {
  protocol: 'ctap2',
  ctap2Version: 'ctap2_1',
  transport: 'internal',
  hasResidentKey: true,
  hasUserVerification: true,
  isUserVerified: true,
  automaticPresenceSimulation: true,
} as const;

if (!existsSync(CHROMIUM)) {
  // One visible skip (the harness counts it as skipped, not as a file without results).
  t.test('WebAuthn in a real browser', { skip: `${CHROMIUM} is not installed (apt-get install -y chromium); CI installs it` }, () => {});
} else {
  await run();
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** A blank page on http://localhost:<port>: its origin is what matters. */
async function pageServer(): Promise<{ server: Server; origin: string }> {
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' });
    res.end('<!doctype html><html><head><meta charset="utf-8"><title>webauthn test page</title></head><body></body></html>');
  });
  return { server, origin: `http://localhost:${await listen(server)}` };
}

type Answer = { status: number; body: Record<string, unknown> & { code?: string } };
type Json = Record<string, unknown>;

async function run() {
  const page = await pageServer();
  const elsewhere = await pageServer();
  t.teardown(() => Promise.all([page, elsewhere].map(({ server }) => new Promise((r) => server.close(r)))));

  const ctx = await buildTestApp(t, {
    env: {
      WEBAUTHN_RP_ID: 'localhost',
      WEBAUTHN_ORIGINS: page.origin,
      CORS_ORIGINS: `${page.origin},${elsewhere.origin}`,
    },
  });
  await ctx.app.listen({ port: 0, host: '127.0.0.1' });
  const api = `http://127.0.0.1:${(ctx.app.server.address() as AddressInfo).port}`;

  const browser: Browser = await launchChromium(t);

  /** A fresh browser profile on `origin`, with one virtual authenticator attached to its tab. */
  async function tab(t: Test, origin: string, authenticator: typeof SECURITY_KEY | typeof PLATFORM) {
    const context = await browser.newContext();
    t.teardown(() => context.close());
    const tabPage = await context.newPage();
    await tabPage.goto(`${origin}/`);
    const cdp = await context.newCDPSession(tabPage);
    await cdp.send('WebAuthn.enable', { enableUI: false });
    const { authenticatorId } = await cdp.send('WebAuthn.addVirtualAuthenticator', { options: authenticator });
    return { page: tabPage, cdp, authenticatorId };
  }

  /** fetch() from the page to the API (JSON in and out). */
  function call(p: Page, path: string, body?: unknown, token?: string): Promise<Answer> {
    return p.evaluate(
      async ({ url, body, token }) => {
        const res = await fetch(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
          body: JSON.stringify(body ?? {}),
        });
        return { status: res.status, body: (await res.json()) as Record<string, unknown> };
      },
      { url: api + path, body, token },
    );
  }

  /**
   * In the page: navigator.credentials.create or .get with Tessera's options (through the
   * browser's own JSON parsers), and the credential's toJSON(). `tamper` flips the last byte of
   * the assertion's signature before it is returned, as a man in the middle would.
   */
  function ceremony(
    p: Page,
    kind: 'create' | 'get',
    options: unknown,
    tamper = false,
  ): Promise<{ ok: true; credential: Json } | { ok: false; error: string }> {
    return p.evaluate(
      async ({ kind, options, tamper }) => {
        try {
          const PKC = PublicKeyCredential as unknown as {
            parseCreationOptionsFromJSON(o: unknown): PublicKeyCredentialCreationOptions;
            parseRequestOptionsFromJSON(o: unknown): PublicKeyCredentialRequestOptions;
          };
          const credential =
            kind === 'create'
              ? await navigator.credentials.create({ publicKey: PKC.parseCreationOptionsFromJSON(options) })
              : await navigator.credentials.get({ publicKey: PKC.parseRequestOptionsFromJSON(options) });
          const json = (credential as unknown as { toJSON(): { response: Record<string, string> } }).toJSON();
          if (tamper) {
            const b64 = json.response.signature!.replace(/-/g, '+').replace(/_/g, '/');
            const bytes = Uint8Array.from(atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4)), (c) => c.charCodeAt(0));
            bytes[bytes.length - 1]! ^= 0x01;
            json.response.signature = btoa(String.fromCharCode(...bytes))
              .replace(/\+/g, '-')
              .replace(/\//g, '_')
              .replace(/=+$/, '');
          }
          return { ok: true as const, credential: json as unknown as Record<string, unknown> };
        } catch (err) {
          return { ok: false as const, error: String(err) };
        }
      },
      { kind, options, tamper },
    );
  }

  async function must<T extends { ok: boolean }>(p: Promise<T>): Promise<Extract<T, { ok: true }>> {
    const r = await p;
    if (!r.ok) throw new Error(`ceremony failed: ${JSON.stringify(r)}`);
    return r as Extract<T, { ok: true }>;
  }

  async function loginWithPassword(p: Page, email: string, password: string) {
    const res = await call(p, '/v1/login', { email, password });
    if (res.status !== 200) throw new Error(`login failed: ${JSON.stringify(res)}`);
    return res.body;
  }

  const claimsOf = (jwt: string) => JSON.parse(Buffer.from(jwt.split('.')[1]!, 'base64url').toString('utf8')) as Json;
  const rowsOf = (userEmail: string) =>
    ctx.db
      .selectFrom('mfa_factors')
      .innerJoin('users', 'users.id', 'mfa_factors.user_id')
      .select([
        'mfa_factors.id',
        'mfa_factors.passkey',
        'mfa_factors.transports',
        'mfa_factors.sign_count',
        'mfa_factors.credential_id',
        'users.id as user_id',
      ])
      .where('users.email', '=', userEmail)
      .execute();

  /** A verified user logged in from the page (aal1, bearer) who registers the tab's authenticator. */
  async function registered(p: Page, passkey: boolean) {
    const user = await createVerifiedUser(ctx);
    const session = await loginWithPassword(p, user.email, user.password);
    const token = session.access_token as string;
    const options = await call(p, '/v1/me/webauthn/registration/options', { passkey }, token);
    if (options.status !== 200) throw new Error(JSON.stringify(options));
    const created = await must(ceremony(p, 'create', options.body.options));
    const res = await call(
      p,
      '/v1/me/webauthn/registration',
      { response: created.credential, name: passkey ? 'This laptop' : 'USB key' },
      token,
    );
    return { ...user, token, res, credential: created.credential };
  }

  t.test(
    'USB security key: registration, then second factor at login; a tampered signature and a replayed challenge are refused',
    async (t) => {
      const { page: p, cdp, authenticatorId } = await tab(t, page.origin, SECURITY_KEY);
      const user = await registered(p, false);
      t.equal(user.res.status, 200, JSON.stringify(user.res.body));
      t.match(user.res.body, { status: 'enabled', credential: { name: 'USB key', passkey: false, transports: ['usb'] } });
      t.equal((user.res.body.backup_codes as string[]).length, 10, 'backup codes with the first factor');
      const [row] = await rowsOf(user.email);
      t.same(row!.transports, ['usb'], 'the transports the browser reported');
      const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      t.equal(credentials.length, 1);
      t.equal(credentials[0]!.isResidentCredential, false, 'a non-discoverable credential on the key');
      t.equal(Buffer.from(credentials[0]!.credentialId, 'base64').toString('base64url'), row!.credential_id!.toString('base64url'));

      // Second factor: password, then the key.
      const first = await call(p, '/v1/login', { email: user.email, password: user.password });
      t.match(first.body, { status: 'mfa_required', methods: ['webauthn', 'backup_code'] });
      const mfaToken = first.body.mfa_token as string;

      const options1 = await call(p, '/v1/login/mfa/webauthn/options', { mfa_token: mfaToken });
      t.equal(options1.status, 200);
      const tampered = await must(ceremony(p, 'get', options1.body.options, true));
      const forged = await call(p, '/v1/login/mfa/webauthn', { mfa_token: mfaToken, response: tampered.credential });
      t.match(forged, { status: 401, body: { code: 'MFA_CODE_INVALID' } }, 'a tampered signature is refused');

      // The same challenge answered again, now with a genuine signature: the challenge is spent.
      const genuineOnSpent = await must(ceremony(p, 'get', options1.body.options));
      const replay = await call(p, '/v1/login/mfa/webauthn', { mfa_token: mfaToken, response: genuineOnSpent.credential });
      t.match(replay, { status: 401, body: { code: 'MFA_CODE_INVALID' } }, 'a reused challenge is refused');

      const options2 = await call(p, '/v1/login/mfa/webauthn/options', { mfa_token: mfaToken });
      const good = await must(ceremony(p, 'get', options2.body.options));
      const done = await call(p, '/v1/login/mfa/webauthn', { mfa_token: mfaToken, response: good.credential });
      t.equal(done.status, 200, JSON.stringify(done.body));
      const claims = claimsOf(done.body.access_token as string);
      t.equal(claims.aal, 2);
      t.same(claims.amr, ['pwd', 'hwk']);
      const me = await p.evaluate(async ({ url, token }) => (await fetch(url, { headers: { authorization: `Bearer ${token}` } })).status, {
        url: `${api}/v1/me`,
        token: done.body.access_token as string,
      });
      t.equal(me, 200, 'the aal2 session works');

      // The authenticator's counter and Tessera's agree.
      const [after] = await rowsOf(user.email);
      const { credentials: now } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
      t.equal(Number(after!.sign_count), now[0]!.signCount, "the stored counter is the key's");

      // The key cannot sign in alone: it is no passkey (the browser finds no discoverable credential).
      const passkeyOptions = await call(p, '/v1/login/passkey/options', {});
      const alone = await ceremony(p, 'get', passkeyOptions.body.options);
      t.equal(alone.ok, false, 'no discoverable credential on the security key');
    },
  );

  t.test('platform authenticator: passkey registration and passwordless login; replay and tampering refused', async (t) => {
    const { page: p, cdp, authenticatorId } = await tab(t, page.origin, PLATFORM);
    const user = await registered(p, true);
    t.equal(user.res.status, 200, JSON.stringify(user.res.body));
    t.match(user.res.body, { credential: { name: 'This laptop', passkey: true, transports: ['internal'] } });
    const [row] = await rowsOf(user.email);
    const { credentials } = await cdp.send('WebAuthn.getCredentials', { authenticatorId });
    t.equal(credentials[0]!.isResidentCredential, true, 'a discoverable credential');
    t.equal(Buffer.from(credentials[0]!.userHandle!, 'base64').toString('hex'), row!.user_id.replace(/-/g, ''), 'the opaque user handle');

    // Passwordless: options, the browser picks the passkey by itself, Tessera signs in.
    const options = await call(p, '/v1/login/passkey/options', {});
    t.equal(options.status, 200);
    const assertion = await must(ceremony(p, 'get', options.body.options));
    t.ok((assertion.credential.response as Json).userHandle, 'the browser returned the user handle');
    const res = await call(p, '/v1/login/passkey', { challenge_id: options.body.challenge_id, response: assertion.credential });
    t.equal(res.status, 200, JSON.stringify(res.body));
    const claims = claimsOf(res.body.access_token as string);
    t.equal(claims.sub, row!.user_id);
    t.equal(claims.aal, 2);
    t.same(claims.amr, ['hwk', 'user', 'mfa']);

    const again = await call(p, '/v1/login/passkey', { challenge_id: options.body.challenge_id, response: assertion.credential });
    t.match(again, { status: 401, body: { code: 'PASSKEY_INVALID' } }, 'the same challenge cannot be answered twice');

    const options2 = await call(p, '/v1/login/passkey/options', {});
    const tampered = await must(ceremony(p, 'get', options2.body.options, true));
    const forged = await call(p, '/v1/login/passkey', { challenge_id: options2.body.challenge_id, response: tampered.credential });
    t.match(forged, { status: 401, body: { code: 'PASSKEY_INVALID' } }, 'a tampered signature is refused');

    // The passkey also serves as the second factor after a password.
    const first = await call(p, '/v1/login', { email: user.email, password: user.password });
    const mfaOptions = await call(p, '/v1/login/mfa/webauthn/options', { mfa_token: first.body.mfa_token });
    const second = await must(ceremony(p, 'get', mfaOptions.body.options));
    const done = await call(p, '/v1/login/mfa/webauthn', { mfa_token: first.body.mfa_token, response: second.credential });
    t.equal(done.status, 200, JSON.stringify(done.body));
  });

  t.test('a page on an origin not in WEBAUTHN_ORIGINS: its registration and its assertions are refused', async (t) => {
    // Registration from the other origin: the browser creates the credential (the RP ID fits
    // the host), Tessera refuses it and stores nothing.
    const { page: away } = await tab(t, elsewhere.origin, PLATFORM);
    const stranger = await registered(away, true);
    t.match(stranger.res, { status: 400, body: { code: 'WEBAUTHN_REGISTRATION_INVALID' } });
    t.match(String(stranger.res.body.detail), /origin/);
    t.equal((await rowsOf(stranger.email)).length, 0, 'nothing stored');

    // A passkey registered on the right page, then used from the wrong one (same profile, same authenticator).
    const { page: p } = await tab(t, page.origin, PLATFORM);
    const user = await registered(p, true);
    t.equal(user.res.status, 200);
    await p.goto(`${elsewhere.origin}/`);
    const options = await call(p, '/v1/login/passkey/options', {});
    const assertion = await must(ceremony(p, 'get', options.body.options));
    const refused = await call(p, '/v1/login/passkey', { challenge_id: options.body.challenge_id, response: assertion.credential });
    t.match(refused, { status: 401, body: { code: 'PASSKEY_INVALID' } }, 'passkey login from the wrong origin');

    const first = await call(p, '/v1/login', { email: user.email, password: user.password });
    const mfaOptions = await call(p, '/v1/login/mfa/webauthn/options', { mfa_token: first.body.mfa_token });
    const second = await must(ceremony(p, 'get', mfaOptions.body.options));
    const secondRefused = await call(p, '/v1/login/mfa/webauthn', { mfa_token: first.body.mfa_token, response: second.credential });
    t.match(secondRefused, { status: 401, body: { code: 'MFA_CODE_INVALID' } }, 'second factor from the wrong origin');

    // Back on the right page, the same passkey signs in.
    await p.goto(`${page.origin}/`);
    const okOptions = await call(p, '/v1/login/passkey/options', {});
    const ok = await must(ceremony(p, 'get', okOptions.body.options));
    const signedIn = await call(p, '/v1/login/passkey', { challenge_id: okOptions.body.challenge_id, response: ok.credential });
    t.equal(signedIn.status, 200, JSON.stringify(signedIn.body));
  });
}
