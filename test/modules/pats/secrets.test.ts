import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { call, member, orgWithOwner, relogin } from '../../helpers/orgs.js';
import { basic, createPat, exchange } from '../../helpers/pats.js';
import { sha256 } from '../../../src/infra/random.js';

/**
 * A PAT's secret is shown once, in the creation answer, and nowhere else: not in the logs (at
 * debug level, through creation, exchange as JSON and form, service-credential use, a typo and
 * revocation), not in any list, not in the audit trail, and not in the database, which keeps its
 * SHA-256 only.
 */
const ctx = await buildTestApp(t, { env: { LOG_LEVEL: 'debug' } });
const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Secret Org');
const dev = await member(ctx, org.id, ['developer'], 'Sec Ret');
const pat = await createPat(ctx, dev.auth, { org_id: org.id, scopes: ['api:manage', 'webhooks:manage'] });
// Everything a secret goes through.
await exchange(ctx, pat.token);
await exchange(ctx, pat.token, { form: true });
await exchange(ctx, `${pat.token.slice(0, -1)}0`);
await ctx.app.inject({ method: 'POST', url: '/v1/admin/keys/rotate', headers: { authorization: `Bearer ${pat.token}` } });
await ctx.app.inject({ method: 'POST', url: '/v1/admin/keys/rotate', headers: basic(pat.token) });
const { auth: ownerAuth } = await relogin(ctx, owner, org.id);
const lists = [
  await ctx.app.inject({ method: 'GET', url: '/v1/me/tokens', headers: dev.auth }),
  await call(ctx, 'GET', `/v1/orgs/${org.id}/tokens`, ownerAuth),
];
const revoke = await call(ctx, 'DELETE', `/v1/me/tokens/${pat.id}`, dev.auth);
await ctx.services.audit.drain();

// The random part past the display prefix: any piece of it would be a leak.
const hidden = pat.token.slice(pat.prefix.length);
const leaks = (text: string) => text.includes(hidden.slice(0, 20)) || text.includes(hidden.slice(20));

t.test('the creation answer carries it, once', async (t) => {
  t.match(pat.token, /^tsr_pat_/);
  t.equal(revoke.statusCode, 204);
});

t.test('not in the logs (debug level)', async (t) => {
  const logs = ctx.logs.join('');
  t.ok(logs.length > 1000, `there are logs (${ctx.logs.length} lines)`);
  t.notOk(leaks(logs), 'no part of the secret is logged');
});

t.test('not in the lists (own, org admin)', async (t) => {
  for (const res of lists) {
    t.equal(res.statusCode, 200, res.body);
    t.notOk(leaks(res.body), res.body.slice(0, 80));
    t.ok(res.body.includes(pat.prefix), 'the display prefix is');
    t.notOk(/token_hash|"token"/.test(res.body), 'neither the hash nor a token field');
  }
});

t.test('not in the audit trail', async (t) => {
  const events = await ctx.db.selectFrom('audit_events').selectAll().execute();
  t.ok(events.some((e) => e.action === 'pat.created' && e.target_id === pat.id));
  t.ok(events.some((e) => e.action === 'pat.revoked' && e.target_id === pat.id));
  t.notOk(leaks(JSON.stringify(events)), 'no event holds it');
  const hashHex = sha256(pat.token).toString('hex');
  t.notOk(JSON.stringify(events).includes(hashHex), 'nor its hash');
});

t.test('the database keeps the SHA-256 only', async (t) => {
  const row = await ctx.db.selectFrom('pats').selectAll().where('id', '=', pat.id).executeTakeFirstOrThrow();
  t.ok(row.token_hash.equals(sha256(pat.token)), 'the hash');
  t.equal(row.prefix, pat.prefix);
  const rowText = JSON.stringify({ ...row, token_hash: row.token_hash.toString('hex') });
  t.notOk(leaks(rowText), 'no column holds the secret');
  // Nor any other table: the text of every row of every table that could hold a token.
  for (const table of ['revocations', 'sessions', 'refresh_tokens', 'users'] as const) {
    const rows = await ctx.db.selectFrom(table).selectAll().execute();
    t.notOk(leaks(JSON.stringify(rows)), table);
  }
});
