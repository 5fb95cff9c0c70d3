import t from 'tap';
import { sql } from 'kysely';
import { createHash } from 'node:crypto';
import { buildTestApp, createVerifiedUser, login, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

t.test('login answers 200 with the token pair shape of the contract', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { res, body } = await login(ctx, user.email, user.password);
  t.equal(res.statusCode, 200);
  t.match(res.headers['content-type'], /application\/json/);
  t.equal(res.headers['cache-control'], 'no-store', 'tokens are never cached');
  t.same(Object.keys(body).sort(), [
    'access_token',
    'device_token',
    'expires_in',
    'refresh_expires_in',
    'refresh_token',
    'session_id',
    'status',
    'token_type',
  ]);
  t.equal(body.status, 'authenticated');
  t.equal(body.token_type, 'Bearer');
  t.equal(body.expires_in, 900);
  t.equal(body.refresh_expires_in, 43200);
  t.match(body.access_token, /^[\w-]+\.[\w-]+\.[\w-]+$/, 'a compact JWS');
  t.type(body.refresh_token, 'string');
  t.ok(body.refresh_token.length >= 43, 'refresh token carries at least 256 bits');
  t.match(body.session_id, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/);
  const me = await ctx.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${body.access_token}` } });
  t.equal(me.statusCode, 200, 'the access token works');
});

t.test('a wrong password and an unknown email get the same 401 INVALID_CREDENTIALS body', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const wrong = await login(ctx, user.email, 'not-the-right-password-1');
  const unknown = await login(ctx, uniqueEmail('nobody'), 'not-the-right-password-1');
  assertProblem(t, wrong.res, 401, 'INVALID_CREDENTIALS', 'wrong password');
  assertProblem(t, unknown.res, 401, 'INVALID_CREDENTIALS', 'unknown email');
  t.equal(wrong.res.headers['content-type'], unknown.res.headers['content-type']);
  t.not(wrong.body.request_id, unknown.body.request_id);
  const strip = ({ request_id: _r, ...rest }: Record<string, unknown>) => rest;
  t.same(strip(wrong.body), strip(unknown.body), 'identical apart from request_id');
  t.equal(JSON.stringify(strip(wrong.body)), JSON.stringify(strip(unknown.body)), 'same keys in the same order');
  const sessions = await ctx.db.selectFrom('sessions').select('id').execute();
  t.equal(sessions.length, 0, 'no session was started');
});

t.test('login writes a sessions row with aal 1 and amr {pwd}', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { body } = await login(ctx, user.email, user.password, {}, { 'user-agent': 'tessera-test/1.0' });
  const row = await ctx.db.selectFrom('sessions').selectAll().where('id', '=', body.session_id).executeTakeFirstOrThrow();
  const account = await ctx.db.selectFrom('users').select('id').where('email', '=', user.email).executeTakeFirstOrThrow();
  t.equal(row.user_id, account.id);
  t.equal(row.aal, 1);
  t.same(row.amr, ['pwd']);
  t.equal(row.revoked_at, null);
  t.equal(row.org_id, null);
  t.equal(row.user_agent, 'tessera-test/1.0');
  t.equal(row.ip, '127.0.0.1');
  const lifetime = (row.expires_at.getTime() - row.created_at.getTime()) / 1000;
  t.ok(Math.abs(lifetime - 43200) < 5, `session lives 12 hours (${lifetime} s)`);
});

t.test('refresh tokens are stored only as their SHA-256', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await createVerifiedUser(ctx);
  const { body } = await login(ctx, user.email, user.password);
  const rows = await ctx.db.selectFrom('refresh_tokens').selectAll().where('session_id', '=', body.session_id).execute();
  t.equal(rows.length, 1);
  t.ok(Buffer.isBuffer(rows[0].token_hash));
  t.ok(rows[0].token_hash.equals(sha256(body.refresh_token)), 'token_hash = sha256(token)');

  // Rotate once so a successor also exists, then look for either raw token anywhere in the table.
  const rotated = await ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    payload: { grant_type: 'refresh_token', refresh_token: body.refresh_token },
  });
  t.equal(rotated.statusCode, 200);
  const successor = rotated.json().refresh_token as string;
  const dump = await sql<{
    row: string;
    hexrow: string;
  }>`select r::text as row, encode(convert_to(r::text, 'UTF8'), 'hex') as hexrow from refresh_tokens r`.execute(ctx.db);
  t.equal(dump.rows.length, 2);
  for (const raw of [body.refresh_token, successor]) {
    const hex = Buffer.from(raw).toString('hex');
    for (const r of dump.rows) {
      t.notOk(r.row.includes(raw), 'raw token not stored as text');
      t.notOk(r.row.includes(hex), 'raw token not stored as bytes');
      t.notOk(r.row.includes(Buffer.from(raw, 'base64url').toString('hex')), 'decoded token bytes not stored');
    }
  }
  const hashes = (await ctx.db.selectFrom('refresh_tokens').select('token_hash').execute()).map((r) => r.token_hash.toString('hex')).sort();
  t.same(hashes, [sha256(body.refresh_token).toString('hex'), sha256(successor).toString('hex')].sort());
});
