import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { eventually } from '../../helpers/eventually.js';
import { assertProblem } from '../../helpers/problem.js';
import {
  bearer,
  call,
  customRole,
  joinOrg,
  member,
  orgScopedRoutes,
  orgWithOwner,
  quietUser,
  refresh,
  relogin,
  type Auth,
} from '../../helpers/orgs.js';
import { totpCode } from '../../../src/modules/mfa/factors/totp.js';

/**
 * The team: the member list and its fields, removal (the member's sessions in the org end, and
 * only those), an admin's view and revocation of a member's sessions (an Owner's only by an
 * Owner), and the org's audit trail (every org action carries the org's id).
 */

const ctx = await buildTestApp(t);

const me = (auth: Auth) => call(ctx, 'GET', '/v1/me', auth);
const sessionRow = (id: string) =>
  ctx.db.selectFrom('sessions').select(['revoked_at', 'revoked_reason']).where('id', '=', id).executeTakeFirstOrThrow();

t.test('the team list: user_id, name, email, roles, last login, MFA status and whether each meets the policy', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Team List');
  const { auth } = await relogin(ctx, owner, org.id);
  const secured = await member(ctx, org.id, ['dpo', 'auditor'], 'Sec Ured');
  // An authenticator app for one member, through the API (a fresh login is recent enough to set one up).
  const enrol = await call(ctx, 'POST', '/v1/me/mfa/totp', secured.auth);
  t.equal(enrol.statusCode, 200, enrol.body);
  const confirm = await call(ctx, 'POST', '/v1/me/mfa/totp/confirm', secured.auth, {
    code: totpCode(enrol.json().secret as string, Math.floor(Date.now() / 1000)),
  });
  t.equal(confirm.statusCode, 200, confirm.body);
  const never = await quietUser(ctx, 'Nev Erloggedin');
  await joinOrg(ctx, org.id, never.id, ['developer']);

  const list = async () => {
    const res = await call(ctx, 'GET', `/v1/orgs/${org.id}/members`, auth);
    t.equal(res.statusCode, 200, res.body);
    return new Map((res.json().members as Array<Record<string, unknown>>).map((m) => [m.user_id as string, m]));
  };
  const members = await list();
  t.equal(members.size, 3);
  for (const m of members.values()) {
    t.same(
      Object.keys(m).sort(),
      ['email', 'joined_at', 'last_login_at', 'meets_policy', 'mfa_enabled', 'name', 'roles', 'user_id'],
      'exactly the documented fields',
    );
  }
  t.match(members.get(owner.id), { name: 'Olive Owner', email: owner.email, roles: ['owner'], mfa_enabled: false, meets_policy: true });
  t.match(members.get(secured.id), {
    name: 'Sec Ured',
    email: secured.email,
    roles: ['auditor', 'dpo'],
    mfa_enabled: true,
    meets_policy: true,
  });
  t.match(members.get(never.id), {
    name: 'Nev Erloggedin',
    email: never.email,
    roles: ['developer'],
    last_login_at: null,
    mfa_enabled: false,
  });
  for (const id of [owner.id, secured.id]) {
    const at = Date.parse(members.get(id)!.last_login_at as string);
    t.ok(Math.abs(at - Date.now()) < 60_000, 'last_login_at is the recent login');
  }

  // The policy now requires a second factor: those without one are out of policy (the grace period does not hide it).
  const policy = {
    require_mfa: true,
    allowed_factors: ['totp', 'webauthn', 'backup_code'],
    enrollment_grace_days: 7,
    session_absolute_ttl: null,
    session_idle_ttl: null,
  };
  await ctx.db
    .updateTable('orgs')
    .set({ security_policy: JSON.stringify(policy) })
    .where('id', '=', org.id)
    .execute();
  const strict = await list();
  t.equal(strict.get(owner.id)!.meets_policy, false, 'the Owner without a factor');
  t.equal(strict.get(never.id)!.meets_policy, false, 'the member without a factor');
  t.equal(strict.get(secured.id)!.meets_policy, true, 'the member with an authenticator app');
  // Only security keys allowed: the app no longer counts.
  await ctx.db
    .updateTable('orgs')
    .set({ security_policy: JSON.stringify({ ...policy, allowed_factors: ['webauthn'] }) })
    .where('id', '=', org.id)
    .execute();
  t.equal((await list()).get(secured.id)!.meets_policy, false, 'a factor the policy does not allow');
});

t.test('removing a member ends their sessions in the org, and only those; their tokens for the org are refused', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Removal Org');
  const { auth } = await relogin(ctx, owner, org.id);
  const { org: other } = await orgWithOwner(ctx, 'crm', 'Other Org');
  // The member's three sessions: one in this org, one without an org (member() opens it first), one in the other org.
  const m = await member(ctx, org.id, ['developer'], 'Rem Oved');
  await joinOrg(ctx, other.id, m.id, ['staff']);
  const plain = await relogin(ctx, m);
  const elsewhere = await relogin(ctx, m, other.id);

  const removal = await call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${m.id}`, auth);
  t.equal(removal.statusCode, 204, removal.body);

  const inOrg = await me(m.auth);
  t.equal(inOrg.statusCode, 401, 'the access token for the org is refused');
  t.match(inOrg.json().code, /^(SESSION_REVOKED|TOKEN_STALE)$/);
  assertProblem(t, await refresh(ctx, m.tokens.refresh_token), 400, 'INVALID_GRANT', 'its refresh token is dead');
  t.match(await sessionRow(m.tokens.session_id), { revoked_reason: 'removed_from_org' }, 'the session in the org is revoked');

  t.equal((await me(plain.auth)).statusCode, 200, 'the session without an org lives');
  t.equal((await me(elsewhere.auth)).statusCode, 200, 'the session in the other org lives');
  t.equal((await call(ctx, 'GET', `/v1/orgs/${other.id}`, elsewhere.auth)).statusCode, 200, 'and still works in that org');
  t.match(await sessionRow(plain.tokens.session_id), { revoked_at: null });
  t.match(await sessionRow(elsewhere.tokens.session_id), { revoked_at: null });
  const kept = await refresh(ctx, plain.tokens.refresh_token);
  t.equal(kept.statusCode, 200, 'the session without an org refreshes');
  assertProblem(
    t,
    await refresh(ctx, kept.json().refresh_token, { org_id: org.id }),
    403,
    'ORG_ACCESS_DENIED',
    'but cannot switch back into the org',
  );
  assertProblem(
    t,
    await call(ctx, 'GET', `/v1/orgs/${org.id}`, bearer(kept.json().access_token)),
    404,
    'ORG_NOT_FOUND',
    'the org is hidden from them now',
  );
});

t.test("an admin with sessions:manage lists and revokes a member's sessions in the org; an Owner's only an Owner can", async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Sessions Org');
  const ownerInOrg = await relogin(ctx, owner, org.id);
  const admin = await member(ctx, org.id, ['admin'], 'Ad Min');
  const target = await member(ctx, org.id, ['developer'], 'Tar Get');
  const plain = await relogin(ctx, target);
  // A session of theirs in another org of theirs.
  const other = await orgWithOwner(ctx, 'crm', 'Other Org');
  await joinOrg(ctx, other.org.id, target.id, ['staff']);
  const elsewhere = await relogin(ctx, target, other.org.id);
  // Every session of theirs without an org (member() signed in once without one, plain is another).
  const orgless = (
    await ctx.db.selectFrom('sessions').select('id').where('user_id', '=', target.id).where('org_id', 'is', null).execute()
  ).map((r) => r.id);

  const listed = await call(ctx, 'GET', `/v1/orgs/${org.id}/members/${target.id}/sessions`, admin.auth);
  t.equal(listed.statusCode, 200, listed.body);
  const sessions = listed.json().sessions as Array<Record<string, unknown>>;
  t.same(
    sessions.map((s) => s.id).sort(),
    [target.tokens.session_id, ...orgless].sort(),
    'the session in this org and those in none (they could switch into it); not the one in another org',
  );
  t.match(sessions[0], { user: { id: target.id, email: target.email }, aal: 1, device: String });

  const revoked = await call(ctx, 'POST', `/v1/orgs/${org.id}/members/${target.id}/sessions/revoke-all`, admin.auth);
  t.equal(revoked.statusCode, 200, revoked.body);
  t.same(revoked.json(), { revoked: 1 + orgless.length, tokens_revoked: 0 });
  assertProblem(t, await me(target.auth), 401, 'SESSION_REVOKED', "the member's session in the org");
  assertProblem(t, await me(plain.auth), 401, 'SESSION_REVOKED', 'their session without an org, which could have switched into it');
  t.equal((await me(elsewhere.auth)).statusCode, 200, 'their session in another org lives');
  t.match(await sessionRow(target.tokens.session_id), { revoked_reason: 'revoked_by_org_admin' });
  const event = await eventually(() =>
    ctx.db
      .selectFrom('audit_events')
      .selectAll()
      .where('action', '=', 'org.member_sessions_revoked')
      .where('target_id', '=', target.id)
      .executeTakeFirst(),
  );
  t.match(event, { org_id: org.id, actor_id: admin.id });

  // An Owner's sessions: not by an Admin.
  assertProblem(t, await call(ctx, 'GET', `/v1/orgs/${org.id}/members/${owner.id}/sessions`, admin.auth), 403, 'OWNER_REQUIRED', 'listing');
  assertProblem(
    t,
    await call(ctx, 'POST', `/v1/orgs/${org.id}/members/${owner.id}/sessions/revoke-all`, admin.auth),
    403,
    'OWNER_REQUIRED',
    'revoking',
  );
  t.equal((await me(ownerInOrg.auth)).statusCode, 200, "the Owner's session lives");
  // By another Owner: yes.
  const second = await member(ctx, org.id, ['owner'], 'Sec Ond');
  const ownerList = await call(ctx, 'GET', `/v1/orgs/${org.id}/members/${owner.id}/sessions`, second.auth);
  t.equal(ownerList.statusCode, 200, ownerList.body);
  // The session the org was created in (switched into it) and the one logged in to it.
  t.same(
    (ownerList.json().sessions as Array<{ id: string }>).map((s) => s.id).sort(),
    [owner.tokens.session_id, ownerInOrg.tokens.session_id].sort(),
  );
  const ownerRevoke = await call(ctx, 'POST', `/v1/orgs/${org.id}/members/${owner.id}/sessions/revoke-all`, second.auth);
  t.same(ownerRevoke.json(), { revoked: 2, tokens_revoked: 0 });
  assertProblem(t, await me(ownerInOrg.auth), 401, 'SESSION_REVOKED');
  // Without sessions:manage: refused by the guard.
  const dev = await member(ctx, org.id, ['developer'], 'De Veloper');
  const denied = assertProblem(
    t,
    await call(ctx, 'GET', `/v1/orgs/${org.id}/members/${admin.id}/sessions`, dev.auth),
    403,
    'PERMISSION_DENIED',
  );
  t.same(denied.missing, ['sessions:manage']);
});

t.test("every org action is in the audit trail with the org's id", async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Audited Org');
  const { auth } = await relogin(ctx, owner, org.id);
  const leaver = await member(ctx, org.id, ['auditor'], 'Lea Ver');
  const removed = await quietUser(ctx);
  await joinOrg(ctx, org.id, removed.id, ['developer']);
  const rerolled = await quietUser(ctx);
  await joinOrg(ctx, org.id, rerolled.id, ['developer']);
  await customRole(ctx, org.id, 'spare');

  // The org actions, one at a time, each named by the audit action it should record.
  const done: string[] = [];
  const run = async (action: string, res: () => ReturnType<typeof call>) => {
    const r = await res();
    t.ok(r.statusCode < 300, `${action}: ${r.statusCode} ${r.body.slice(0, 160)}`);
    done.push(action);
    return r;
  };
  await run('org.updated', () => call(ctx, 'PATCH', `/v1/orgs/${org.id}`, auth, { name: 'Audited Org Renamed' }));
  await run('org.role_created', () =>
    call(ctx, 'POST', `/v1/orgs/${org.id}/roles`, auth, { key: 'reviewer', name: 'Reviewer', permissions: ['reports:read'] }),
  );
  await run('org.role_updated', () =>
    call(ctx, 'PATCH', `/v1/orgs/${org.id}/roles/reviewer`, auth, { permissions: ['reports:read', 'audit:read'] }),
  );
  await run('org.role_deleted', () => call(ctx, 'DELETE', `/v1/orgs/${org.id}/roles/spare`, auth));
  await run('org.member_roles_changed', () =>
    call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${rerolled.id}`, auth, { roles: ['reviewer'] }),
  );
  await run('org.member_sessions_revoked', () => call(ctx, 'POST', `/v1/orgs/${org.id}/members/${leaver.id}/sessions/revoke-all`, auth));
  await run('org.member_removed', () => call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${removed.id}`, auth));
  const leaverAgain = await relogin(ctx, leaver, org.id);
  await run('org.member_left', () => call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${leaver.id}`, leaverAgain.auth));
  await run('org.client_created', () => call(ctx, 'POST', `/v1/orgs/${org.id}/clients`, auth, { name: 'Audited Client' }));
  const hasInvitations = orgScopedRoutes(ctx.app).some((r) => r.method === 'POST' && r.path === '/v1/orgs/{org}/invitations');
  if (hasInvitations) {
    const sent = await run('org.invitation_sent', () =>
      call(ctx, 'POST', `/v1/orgs/${org.id}/invitations`, auth, {
        name: 'New Person',
        email: 'new-person@example.com',
        roles: ['auditor'],
      }),
    );
    await run('org.invitation_revoked', () => call(ctx, 'DELETE', `/v1/orgs/${org.id}/invitations/${sent.json().id}`, auth));
  }

  const expected = ['org.created', ...done];
  const rows = await eventually(
    async () => {
      const found = await ctx.db
        .selectFrom('audit_events')
        .select(['action', 'org_id'])
        .where('org_id', '=', org.id)
        .where('action', 'like', 'org.%')
        .execute();
      return expected.every((a) => found.some((r) => r.action === a)) && found;
    },
    { message: () => `the org's trail has ${expected.join(', ')}` },
  );
  t.same([...new Set(rows.map((r) => r.action))].sort(), [...new Set(expected)].sort(), "the org's trail holds each action");
  // Anywhere in the database: no org action without its org.
  const orphans = await ctx.db
    .selectFrom('audit_events')
    .select(['action', 'target_id'])
    .where('action', 'like', 'org.%')
    .where('org_id', 'is', null)
    .execute();
  t.same(orphans, [], 'no org.* event lacks an org_id');
});

t.test('deleting an org ends its members\u2019 sessions in it and records org.deleted with its id', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Doomed Org');
  const { auth } = await relogin(ctx, owner, org.id);
  const staff = await member(ctx, org.id, ['staff'], 'Sta Ff');
  const res = await call(ctx, 'DELETE', `/v1/orgs/${org.id}`, auth);
  t.equal(res.statusCode, 204, res.body.slice(0, 300));
  t.notOk(await ctx.db.selectFrom('orgs').select('id').where('id', '=', org.id).executeTakeFirst(), 'the org is gone');
  t.equal((await me(staff.auth)).statusCode, 401, "a member's token for it is refused");
  const event = await ctx.db
    .selectFrom('audit_events')
    .selectAll()
    .where('action', '=', 'org.deleted')
    .where('target_id', '=', org.id)
    .executeTakeFirst();
  t.match(event, { org_id: org.id, actor_id: owner.id });
});
