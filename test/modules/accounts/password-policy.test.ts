import { readFileSync } from 'node:fs';
import argon2 from 'argon2';
import t, { type Test } from 'tap';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, login, uniqueEmail, type TestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { countUsers, userByEmail } from './support.js';

const signup = (ctx: TestApp, password: string, email = uniqueEmail()) =>
  ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password, name: 'Policy' } });

const blocklist = new Set(
  readFileSync('data/common-passwords.txt', 'utf8')
    .split('\n')
    .map((l) => l.trim().toLowerCase()),
);

const ctx = await buildTestApp(t);

async function rejected(t: Test, password: string, code: string, reason: RegExp) {
  const before = await countUsers(ctx);
  const email = uniqueEmail();
  const res = await signup(ctx, password, email);
  const body = assertProblem(t, res, 422, code);
  t.match(body.detail, reason, `the detail states the reason: "${body.detail}"`);
  t.equal(await countUsers(ctx), before, 'no users row written');
  t.notOk(await userByEmail(ctx, email), 'no row for that address');
}

async function accepted(t: Test, password: string) {
  const email = uniqueEmail();
  const res = await signup(ctx, password, email);
  t.equal(res.statusCode, 202, res.body);
  t.ok(await userByEmail(ctx, email), 'the account exists');
}

t.test('a 7-character password is rejected with 422 PASSWORD_TOO_SHORT and the minimum stated', async (t) => {
  await rejected(t, 'zq7vkx3', 'PASSWORD_TOO_SHORT', /at least 8 characters/);
});

t.test('an 8-character password is accepted', async (t) => {
  t.notOk(blocklist.has('zq7vkx3m'));
  await accepted(t, 'zq7vkx3m');
});

t.test('length counts characters, not UTF-16 units: 7 emoji are too short', async (t) => {
  await rejected(t, '🔑🔑🔑🔑🔑🔑🔑', 'PASSWORD_TOO_SHORT', /at least 8/);
});

t.test('a 128-character password is accepted', async (t) => {
  await accepted(t, 'a'.repeat(60) + 'b'.repeat(68));
});

t.test('a 129-character password is rejected with 422 PASSWORD_TOO_LONG and the maximum stated', async (t) => {
  await rejected(t, 'a'.repeat(60) + 'b'.repeat(69), 'PASSWORD_TOO_LONG', /at most 128 characters/);
});

t.test('blocklisted passwords are rejected with 422 PASSWORD_TOO_COMMON, whatever their case', async (t) => {
  for (const p of ['password1', 'qwertyuiop']) t.ok(blocklist.has(p), `${p} is in data/common-passwords.txt`);
  t.ok(blocklist.size >= 10_000, `the list holds at least 10,000 entries (${blocklist.size})`);
  for (const p of ['password1', 'PassWord1', 'QWERTYUIOP', 'qwertyuiop']) {
    await t.test(p, async (t) => rejected(t, p, 'PASSWORD_TOO_COMMON', /common/));
  }
});

t.test('no composition rules: a long all-lowercase passphrase is accepted', async (t) => {
  const p = 'correct horse battery staple';
  t.notOk(/[A-Z0-9]/.test(p));
  await accepted(t, p);
  await accepted(t, 'lanternharbourviolet');
});

t.test('argon2id with the OWASP production defaults: the stored hash starts with $argon2id$v=19$m=19456,t=2,p=1', async (t) => {
  const prod = await buildTestApp(t, { env: { ARGON2_MEMORY_KIB: '19456', ARGON2_ITERATIONS: '2' } });
  t.same(prod.config.argon2, { memoryCost: 19456, timeCost: 2, parallelism: 1 }, 'the defaults are the OWASP parameters');
  const email = uniqueEmail();
  t.equal((await signup(prod, GOOD_PASSWORD, email)).statusCode, 202);
  const row = await userByEmail(prod, email);
  t.ok(row?.password_hash.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), `stored hash: ${row?.password_hash.slice(0, 40)}`);
  t.notMatch(row?.password_hash ?? '', GOOD_PASSWORD, 'not the plain password');
  t.ok(await argon2.verify(row!.password_hash, GOOD_PASSWORD), 'it verifies the password');
});

t.test('a hash made with other parameters is replaced with the configured ones at the next successful login', async (t) => {
  const app = await buildTestApp(t, { env: { ARGON2_MEMORY_KIB: '19456', ARGON2_ITERATIONS: '2' } });
  const { email, password } = await createVerifiedUser(app);
  const cheap = await argon2.hash(password, { type: argon2.argon2id, memoryCost: 4096, timeCost: 1, parallelism: 1 });
  await app.db.updateTable('users').set({ password_hash: cheap }).where('email_normalized', '=', email).execute();

  const wrong = await login(app, email, 'not-the-password-at-all');
  t.equal(wrong.res.statusCode, 401);
  t.equal((await userByEmail(app, email))?.password_hash, cheap, 'a failed login does not rehash');

  const ok = await login(app, email, password);
  t.equal(ok.res.statusCode, 200, 'the old hash still logs in');
  const stored = (await userByEmail(app, email))!.password_hash;
  t.not(stored, cheap, 'the hash changed');
  t.ok(stored.startsWith('$argon2id$v=19$m=19456,t=2,p=1$'), `rehashed with the configured parameters: ${stored.slice(0, 40)}`);
  t.ok(await argon2.verify(stored, password), 'the new hash verifies the same password');
  t.equal((await login(app, email, password)).res.statusCode, 200, 'and logs in');
});
