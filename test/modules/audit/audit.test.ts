import t from 'tap';
import { sql } from 'kysely';
import { buildTestApp, loggedInUser, login } from '../../helpers/app.js';

t.test('security events form a hash chain that detects an edit made behind the database trigger', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  await login(ctx, user.email, 'wrong-password-123');
  await ctx.app.inject({ method: 'POST', url: '/v1/me/sessions/revoke-others', headers: user.auth });
  // Detached writes land just after the response.
  await new Promise((r) => setTimeout(r, 100));
  const before = await ctx.services.audit.verifyChain();
  t.ok(before.ok, 'the untouched chain verifies');
  t.ok(before.checked >= 3, `checked ${before.checked} events`);

  await t.rejects(
    sql`update audit_events set action = 'nothing.happened' where seq = 1`.execute(ctx.db),
    /append-only/,
    'updates are refused by the trigger',
  );
  await t.rejects(sql`delete from audit_events where seq = 1`.execute(ctx.db), /append-only/, 'deletes are refused');

  // Someone with superuser rights disables the trigger and edits history.
  await sql`alter table audit_events disable trigger audit_events_no_update`.execute(ctx.db);
  const victim = await ctx.db.selectFrom('audit_events').select(['id', 'seq']).orderBy('seq').offset(1).limit(1).executeTakeFirstOrThrow();
  await sql`update audit_events set data = '{"forged":true}' where seq = ${victim.seq}`.execute(ctx.db);
  const after = await ctx.services.audit.verifyChain();
  t.notOk(after.ok, 'the edit breaks the chain');
  t.equal(after.broken_at, victim.id, 'and verification names the edited event');
});

t.test("GET /v1/me/security-events lists the caller's own events, newest first", async (t) => {
  const ctx = await buildTestApp(t);
  const a = await loggedInUser(ctx);
  const b = await loggedInUser(ctx);
  await ctx.app.inject({ method: 'PATCH', url: '/v1/me', headers: a.auth, payload: { name: 'Renamed' } });
  await new Promise((r) => setTimeout(r, 100));
  const res = await ctx.app.inject({ method: 'GET', url: '/v1/me/security-events?limit=10', headers: a.auth });
  t.equal(res.statusCode, 200);
  const actions = res.json().events.map((e: { action: string }) => e.action);
  t.equal(actions[0], 'account.profile_updated');
  t.ok(actions.includes('session.login'));
  t.ok(actions.includes('account.created'));
  const ofB = await ctx.app.inject({ method: 'GET', url: '/v1/me/security-events', headers: b.auth });
  t.notOk(
    ofB.json().events.some((e: { action: string }) => e.action === 'account.profile_updated'),
    "another user's events are not shown",
  );
  const bad = await ctx.app.inject({ method: 'GET', url: '/v1/me/security-events?limit=5000', headers: a.auth });
  t.equal(bad.statusCode, 400);
  t.equal(bad.json().code, 'VALIDATION_FAILED');
});

t.test('login with an org_id is refused until the user is a member of it', async (t) => {
  const ctx = await buildTestApp(t);
  const user = await loggedInUser(ctx);
  const { res } = await login(ctx, user.email, user.password, { org_id: '6f1c1d6e-3c5e-4b7e-9a51-2f0b8c9e1a11' });
  t.equal(res.statusCode, 403);
  t.equal(res.json().code, 'ORG_ACCESS_DENIED');
});
