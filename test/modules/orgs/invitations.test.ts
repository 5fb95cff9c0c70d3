import { createHash } from 'node:crypto';
import t from 'tap';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, login, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { claimsOf, member, orgWithOwner, person, relogin, switchTo } from '../../helpers/orgs.js';
import {
  accept,
  auditOf,
  invitationMails,
  invitationToken,
  invite,
  invited,
  listInvitations,
  preview,
  resend,
  revoke,
} from './invitations-support.js';

const sha256 = (s: string) => createHash('sha256').update(s).digest();

/** Invitations: sending, the link, accepting with a new or an existing account, single use, escalation, tenant isolation. */
t.test('organization invitations', async (t) => {
  const ctx = await buildTestApp(t, { kv: 'redis' });

  t.test(
    'invite, mail, accept with a new account: verified, logs in for the org with the invited roles; the token is stored hashed only',
    async (t) => {
      const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Acme Invites');
      const email = uniqueEmail('newbie');
      const res = await invite(ctx, owner.auth, org.id, { name: 'Nina New', email, roles: ['dpo', 'auditor'] });
      t.equal(res.statusCode, 201, res.body);
      const view = res.json();
      t.match(view, { email, name: 'Nina New', roles: ['auditor', 'dpo'], invited_by: owner.id, status: 'pending' });
      t.notOk('token' in view, 'the view never carries the token');
      const days = (Date.parse(view.expires_at) - Date.parse(view.created_at)) / 86_400_000;
      t.equal(Math.round(days), 7, 'seven days by default');

      const token = await invitationToken(ctx, email);
      const mail = invitationMails(ctx, email)[0]!;
      t.match(mail.text, 'Acme Invites', 'the mail names the org');
      t.match(mail.text, 'Olive Owner', 'and the inviter');
      t.match(mail.text, view.expires_at.slice(0, 10), 'and the expiry');
      t.match(mail.text, `${ctx.config.appLinks.appUrl}/accept-invitation?token=`);

      // Only the hash is stored: no column of the row holds the token.
      const row = await ctx.db.selectFrom('org_invitations').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
      t.same(row.token_hash, sha256(token), 'token_hash is the sha256 of the token');
      const stored = Object.values(row).map((v) => (Buffer.isBuffer(v) ? v.toString('base64url') + v.toString('hex') : JSON.stringify(v)));
      t.notOk(
        stored.some((v) => v.includes(token)),
        'the token in plain text is nowhere in the row',
      );

      const pre = await preview(ctx, token);
      t.equal(pre.statusCode, 200, pre.body);
      t.same(pre.json(), {
        org: { id: org.id, name: 'Acme Invites' },
        email,
        name: 'Nina New',
        roles: ['auditor', 'dpo'],
        expires_at: view.expires_at,
        account_exists: false,
      });

      const done = await accept(ctx, { token, password: GOOD_PASSWORD });
      t.equal(done.statusCode, 201, done.body);
      const body = done.json();
      t.match(body, { org_id: org.id, roles: ['auditor', 'dpo'], account_created: true });
      t.notOk('access_token' in body || 'refresh_token' in body, 'no tokens: the client logs in next');

      const user = await ctx.db.selectFrom('users').selectAll().where('id', '=', body.user_id).executeTakeFirstOrThrow();
      t.equal(user.email, email);
      t.equal(user.name, 'Nina New', 'the name defaults to the invitation\u2019s');
      t.ok(user.email_verified_at, 'the account is verified: the link proved the mailbox');

      const { res: loginRes, body: tokens } = await login(ctx, email, GOOD_PASSWORD, { org_id: org.id });
      t.equal(loginRes.statusCode, 200, loginRes.body);
      const claims = claimsOf(tokens.access_token);
      t.equal(claims.org_id, org.id);
      t.same(claims.roles, ['auditor', 'dpo'], 'the token has the invited roles');

      const after = await ctx.db.selectFrom('org_invitations').selectAll().where('id', '=', view.id).executeTakeFirstOrThrow();
      t.ok(after.accepted_at, 'accepted');
      t.equal(after.accepted_by, body.user_id);

      // Never a log line with the token (nor, then, the link).
      t.notOk(ctx.logs.join('\n').includes(token), 'the token is in no log line');

      // Audit, with the org.
      for (const action of ['org.invitation_sent', 'org.invitation_accepted']) {
        const [event] = await auditOf(ctx, action, view.id);
        t.equal(event?.org_id, org.id, `${action} carries org_id`);
      }
      const [added] = await auditOf(ctx, 'org.member_added', body.user_id);
      t.equal(added?.org_id, org.id, 'org.member_added carries org_id');
      t.equal(added?.actor_id, body.user_id);
      const [created] = await auditOf(ctx, 'account.created', body.user_id);
      t.same(created?.data, { via: 'invitation' });
    },
  );

  t.test('the name can be chosen at acceptance; the password policy applies; a new account needs a password', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('named');
    const { token } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    assertProblem(t, await accept(ctx, { token }), 400, 'VALIDATION_FAILED');
    assertProblem(t, await accept(ctx, { token, password: 'short' }), 422, 'PASSWORD_TOO_SHORT');
    assertProblem(t, await accept(ctx, { token, password: 'password123' }), 422, 'PASSWORD_TOO_COMMON');
    // None of the refusals spent the link.
    const done = await accept(ctx, { token, password: GOOD_PASSWORD, name: 'Chosen Name' });
    t.equal(done.statusCode, 201, done.body);
    const user = await ctx.db.selectFrom('users').select('name').where('email', '=', email).executeTakeFirstOrThrow();
    t.equal(user.name, 'Chosen Name');
  });

  t.test('an existing account accepts while logged in as it', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await person(ctx, { name: 'Ernest Existing' });
    const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['developer'] });
    const pre = await preview(ctx, token);
    t.equal(pre.json().account_exists, true);
    const done = await accept(ctx, { token }, invitee.auth);
    t.equal(done.statusCode, 201, done.body);
    t.same(done.json(), { org_id: org.id, user_id: invitee.id, roles: ['developer'], account_created: false });
    const { tokens } = await relogin(ctx, invitee, org.id);
    t.same(claimsOf(tokens.access_token).roles, ['developer']);
  });

  t.test('an existing account accepts with its password; a wrong one is 403 INVALID_PASSWORD and counts as a guess', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await createVerifiedUser(ctx);
    const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor'] });
    const wrong = await accept(ctx, { token, password: 'not-the-password-at-all' });
    assertProblem(t, wrong, 403, 'INVALID_PASSWORD');
    const done = await accept(ctx, { token, password: invitee.password });
    t.equal(done.statusCode, 201, done.body);
    t.equal(done.json().account_created, false);
  });

  t.test('wrong passwords at acceptance are throttled like any password re-entry', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await createVerifiedUser(ctx);
    const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor'] });
    const codes: string[] = [];
    for (let i = 0; i < 8; i++) codes.push((await accept(ctx, { token, password: `wrong-password-${i}-xyz` })).json().code);
    t.ok(codes.includes('PASSWORD_ATTEMPTS_THROTTLED'), `the throttle stepped in (${codes.join(', ')})`);
  });

  t.test(
    'logged in as someone else: 403 INVITATION_EMAIL_MISMATCH; neither logged in nor a password: 401 INVITATION_LOGIN_REQUIRED',
    async (t) => {
      const { owner, org } = await orgWithOwner(ctx);
      const invitee = await createVerifiedUser(ctx);
      const other = await person(ctx);
      const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor'] });
      assertProblem(t, await accept(ctx, { token }, other.auth), 403, 'INVITATION_EMAIL_MISMATCH');
      const anonymous = await accept(ctx, { token });
      assertProblem(t, anonymous, 401, 'INVITATION_LOGIN_REQUIRED');
      // A bad credential is refused, not ignored.
      assertProblem(t, await accept(ctx, { token }, { authorization: 'Bearer not-a-jwt' }), 401, 'INVALID_TOKEN');
      t.equal(
        await ctx.db
          .selectFrom('org_members')
          .select('user_id')
          .where('org_id', '=', org.id)
          .execute()
          .then((r) => r.length),
        1,
        'nobody joined',
      );
    },
  );

  t.test('accepting proves the address of an unverified account', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('unverified');
    const signup = await ctx.app.inject({
      method: 'POST',
      url: '/v1/signup',
      payload: { email, password: GOOD_PASSWORD, name: 'Una Unverified' },
    });
    t.equal(signup.statusCode, 202);
    const { token } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    const done = await accept(ctx, { token, password: GOOD_PASSWORD });
    t.equal(done.statusCode, 201, done.body);
    const user = await ctx.db.selectFrom('users').selectAll().where('email', '=', email).executeTakeFirstOrThrow();
    t.ok(user.email_verified_at, 'verified now');
    const [event] = await auditOf(ctx, 'account.email_verified', user.id);
    t.same(event?.data, { via: 'invitation' });
  });

  t.test('single use: a second accept is 400 INVITATION_INVALID, and so is the preview', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('once');
    const { token } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    t.equal((await accept(ctx, { token, password: GOOD_PASSWORD })).statusCode, 201);
    assertProblem(t, await accept(ctx, { token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    assertProblem(t, await preview(ctx, token), 400, 'INVITATION_INVALID');
    assertProblem(t, await accept(ctx, { token: 'no-such-token' }), 400, 'INVITATION_INVALID');
  });

  t.test('a revoked invitation is dead; revoking twice is 404', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('revoked');
    const { id, token } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    const res = await revoke(ctx, owner.auth, org.id, id);
    t.equal(res.statusCode, 204, res.body);
    assertProblem(t, await accept(ctx, { token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    assertProblem(t, await preview(ctx, token), 400, 'INVITATION_INVALID');
    assertProblem(t, await revoke(ctx, owner.auth, org.id, id), 404, 'INVITATION_NOT_FOUND');
    assertProblem(t, await resend(ctx, owner.auth, org.id, id), 404, 'INVITATION_NOT_FOUND');
    const [event] = await auditOf(ctx, 'org.invitation_revoked', id);
    t.equal(event?.org_id, org.id);
    // The address can be invited again.
    t.equal((await invite(ctx, owner.auth, org.id, { name: 'Again', email, roles: ['auditor'] })).statusCode, 201);
  });

  t.test('resend: a new link, the old one dies', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('resent');
    const { id, token: old } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    const res = await resend(ctx, owner.auth, org.id, id);
    t.equal(res.statusCode, 200, res.body);
    t.equal(res.json().status, 'pending');
    const fresh = await invitationToken(ctx, email, 1);
    t.not(fresh, old);
    assertProblem(t, await accept(ctx, { token: old, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    t.equal((await accept(ctx, { token: fresh, password: GOOD_PASSWORD })).statusCode, 201);
    const [event] = await auditOf(ctx, 'org.invitation_resent', id);
    t.equal(event?.org_id, org.id);
    t.notOk(ctx.logs.join('\n').includes(fresh), 'the new token is in no log line');
  });

  t.test('the list shows open and recent invitations with their status', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const a = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('list-a'), roles: ['auditor'] });
    const b = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('list-b'), roles: ['auditor'] });
    const c = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('list-c'), roles: ['auditor'] });
    await revoke(ctx, owner.auth, org.id, b.id);
    await accept(ctx, { token: c.token, password: GOOD_PASSWORD });
    const res = await listInvitations(ctx, owner.auth, org.id);
    t.equal(res.statusCode, 200, res.body);
    const byId = new Map(res.json().invitations.map((i: { id: string; status: string }) => [i.id, i.status]));
    t.same(Object.fromEntries([a.id, b.id, c.id].map((id) => [id, byId.get(id)])), {
      [a.id]: 'pending',
      [b.id]: 'revoked',
      [c.id]: 'accepted',
    });
    t.notOk(res.body.includes(a.token), 'no token in the list');
  });

  t.test('inviting a member: 409 ALREADY_MEMBER; inviting twice: 409 INVITATION_PENDING; an unknown role: 422 ROLE_UNKNOWN', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const existing = await member(ctx, org.id, ['auditor']);
    assertProblem(
      t,
      await invite(ctx, owner.auth, org.id, { name: 'M', email: existing.email.toUpperCase(), roles: ['dpo'] }),
      409,
      'ALREADY_MEMBER',
    );
    assertProblem(t, await invite(ctx, owner.auth, org.id, { name: 'Me', email: owner.email, roles: ['dpo'] }), 409, 'ALREADY_MEMBER');
    const email = uniqueEmail('twice');
    t.equal((await invite(ctx, owner.auth, org.id, { name: 'T', email, roles: ['auditor'] })).statusCode, 201);
    assertProblem(
      t,
      await invite(ctx, owner.auth, org.id, { name: 'T', email: ` ${email.toUpperCase()} `, roles: ['dpo'] }),
      409,
      'INVITATION_PENDING',
    );
    const unknown = assertProblem(
      t,
      await invite(ctx, owner.auth, org.id, { name: 'U', email: uniqueEmail(), roles: ['auditor', 'wizard'] }),
      422,
      'ROLE_UNKNOWN',
    );
    t.same(unknown.roles, ['wizard']);
  });

  t.test('a member who joined since the invitation was sent: accepting is 409 ALREADY_MEMBER and spends nothing', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await person(ctx);
    const { id, token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor'] });
    await ctx.db.insertInto('org_members').values({ org_id: org.id, user_id: invitee.id }).execute();
    assertProblem(t, await accept(ctx, { token }, invitee.auth), 409, 'ALREADY_MEMBER');
    const row = await ctx.db.selectFrom('org_invitations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    t.equal(row.accepted_at, null, 'the claim was rolled back');
  });

  t.test('roles removed from the org since are left out; none left: INVITATION_INVALID', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const mk = (key: string) =>
      ctx.app.inject({
        method: 'POST',
        url: `/v1/orgs/${org.id}/roles`,
        headers: owner.auth,
        payload: { key, name: `Role ${key}`, permissions: ['reports:read'] },
      });
    t.equal((await mk('temp_one')).statusCode, 201);
    t.equal((await mk('temp_two')).statusCode, 201);
    const one = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('partial'), roles: ['temp_one', 'auditor'] });
    const two = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('none'), roles: ['temp_two'] });
    for (const key of ['temp_one', 'temp_two']) {
      t.equal((await ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${org.id}/roles/${key}`, headers: owner.auth })).statusCode, 204);
    }
    const partial = await accept(ctx, { token: one.token, password: GOOD_PASSWORD });
    t.equal(partial.statusCode, 201, partial.body);
    t.same(partial.json().roles, ['auditor']);
    assertProblem(t, await accept(ctx, { token: two.token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    t.notOk(
      await ctx.db.selectFrom('users').select('id').where('email', '=', two.view.email).executeTakeFirst(),
      'no account was left behind',
    );
  });

  t.test('the roles are the invitation\u2019s: a `roles` field on accept is refused (400 VALIDATION_FAILED)', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const { token } = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('sneaky'), roles: ['auditor'] });
    assertProblem(t, await accept(ctx, { token, password: GOOD_PASSWORD, roles: ['owner'] }), 400, 'VALIDATION_FAILED');
    const done = await accept(ctx, { token, password: GOOD_PASSWORD });
    t.same(done.json().roles, ['auditor']);
  });

  t.test(
    'escalation: a Manager invites Managers, not an Owner (OWNER_REQUIRED) nor a role with permissions they lack (ESCALATION_DENIED)',
    async (t) => {
      const { owner, org } = await orgWithOwner(ctx, 'crm', 'Acme CRM');
      const manager = await member(ctx, org.id, ['manager']);
      const admin = await ctx.app.inject({
        method: 'POST',
        url: `/v1/orgs/${org.id}/roles`,
        headers: owner.auth,
        payload: {
          key: 'crm_admin',
          name: 'CRM Admin',
          permissions: ['members:invite', 'members:manage', 'billing:manage', 'customers:write'],
        },
      });
      t.equal(admin.statusCode, 201, admin.body);
      assertProblem(
        t,
        await invite(ctx, manager.auth, org.id, { name: 'O', email: uniqueEmail(), roles: ['owner'] }),
        403,
        'OWNER_REQUIRED',
      );
      const denied = assertProblem(
        t,
        await invite(ctx, manager.auth, org.id, { name: 'A', email: uniqueEmail(), roles: ['manager', 'crm_admin'] }),
        403,
        'ESCALATION_DENIED',
      );
      t.same(denied.missing, ['billing:manage']);
      t.equal((await invite(ctx, manager.auth, org.id, { name: 'M', email: uniqueEmail(), roles: ['manager'] })).statusCode, 201);
      // The Owner may invite both.
      t.equal((await invite(ctx, owner.auth, org.id, { name: 'O', email: uniqueEmail(), roles: ['owner'] })).statusCode, 201);
      const ownerInvite = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('adm'), roles: ['crm_admin'] });
      // Nor can the Manager resend or revoke what they could not have sent.
      assertProblem(t, await resend(ctx, manager.auth, org.id, ownerInvite.id), 403, 'ESCALATION_DENIED');
      assertProblem(t, await revoke(ctx, manager.auth, org.id, ownerInvite.id), 403, 'ESCALATION_DENIED');
      const count = await ctx.db.selectFrom('org_invitations').select('id').where('org_id', '=', org.id).execute();
      t.equal(count.length, 3, 'only the allowed invitations exist');
    },
  );

  t.test('a Staff member (no members:invite): 403 PERMISSION_DENIED', async (t) => {
    const { owner, org } = await orgWithOwner(ctx, 'crm', 'Acme Staff');
    const staff = await member(ctx, org.id, ['staff']);
    const { id } = await invited(ctx, owner.auth, org.id, { email: uniqueEmail(), roles: ['staff'] });
    assertProblem(
      t,
      await invite(ctx, staff.auth, org.id, { name: 'X', email: uniqueEmail(), roles: ['staff'] }),
      403,
      'PERMISSION_DENIED',
    );
    assertProblem(t, await listInvitations(ctx, staff.auth, org.id), 403, 'PERMISSION_DENIED');
    assertProblem(t, await resend(ctx, staff.auth, org.id, id), 403, 'PERMISSION_DENIED');
    assertProblem(t, await revoke(ctx, staff.auth, org.id, id), 403, 'PERMISSION_DENIED');
  });

  t.test(
    'another org\u2019s admin: 404 ORG_NOT_FOUND for list, create, resend and revoke; their own org does not reach the invitation either',
    async (t) => {
      const { owner, org } = await orgWithOwner(ctx);
      const { owner: stranger, org: theirs } = await orgWithOwner(ctx, 'compliance', 'Other Org');
      const { id, token } = await invited(ctx, owner.auth, org.id, { email: uniqueEmail(), roles: ['auditor'] });
      assertProblem(t, await listInvitations(ctx, stranger.auth, org.id), 404, 'ORG_NOT_FOUND');
      assertProblem(
        t,
        await invite(ctx, stranger.auth, org.id, { name: 'X', email: uniqueEmail(), roles: ['auditor'] }),
        404,
        'ORG_NOT_FOUND',
      );
      assertProblem(t, await resend(ctx, stranger.auth, org.id, id), 404, 'ORG_NOT_FOUND');
      assertProblem(t, await revoke(ctx, stranger.auth, org.id, id), 404, 'ORG_NOT_FOUND');
      assertProblem(t, await resend(ctx, stranger.auth, theirs.id, id), 404, 'INVITATION_NOT_FOUND');
      assertProblem(t, await revoke(ctx, stranger.auth, theirs.id, id), 404, 'INVITATION_NOT_FOUND');
      const list = await listInvitations(ctx, stranger.auth, theirs.id);
      t.same(list.json().invitations, [], 'nothing of the other org in their list');
      t.equal((await preview(ctx, token)).statusCode, 200, 'the invitation is untouched');
    },
  );

  t.test('the hand-over: an agency invites the first Owner of its client, and no further one', async (t) => {
    const { owner: agencyOwner, org: agency } = await orgWithOwner(ctx, 'compliance', 'Agency');
    const client = await ctx.app.inject({
      method: 'POST',
      url: `/v1/orgs/${agency.id}/clients`,
      headers: agencyOwner.auth,
      payload: { name: 'Client Co' },
    });
    t.equal(client.statusCode, 201, client.body);
    const clientId = client.json().id as string;
    // The agency acts in the client with a token for the client.
    const clientAuth = await switchTo(ctx, agencyOwner.tokens, clientId);
    // None of the agency's own people becomes the client's Owner.
    const self = await invited(ctx, clientAuth, clientId, { email: agencyOwner.email, roles: ['owner'] });
    assertProblem(t, await accept(ctx, { token: self.token, password: agencyOwner.password }), 400, 'INVITATION_INVALID');
    // The refusal changed nothing (the invitation stays open until revoked).
    t.equal((await revoke(ctx, clientAuth, clientId, self.id)).statusCode, 204);
    const first = await invited(ctx, clientAuth, clientId, { email: uniqueEmail('client-owner'), roles: ['owner'] });
    const rival = await invited(ctx, clientAuth, clientId, { email: uniqueEmail('client-rival'), roles: ['owner'] });
    const done = await accept(ctx, { token: first.token, password: GOOD_PASSWORD });
    t.equal(done.statusCode, 201, done.body);
    t.same(done.json().roles, ['owner']);
    // A second hand-over sent before the first was accepted is void now the client has its Owner.
    assertProblem(t, await accept(ctx, { token: rival.token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    assertProblem(
      t,
      await invite(ctx, clientAuth, clientId, { name: 'Second', email: uniqueEmail(), roles: ['owner'] }),
      403,
      'OWNER_REQUIRED',
    );
    t.equal((await invite(ctx, clientAuth, clientId, { name: 'Dev', email: uniqueEmail(), roles: ['developer'] })).statusCode, 201);
    // In an org of its own (not a client), an Admin is no Owner and cannot invite one.
    const admin = await member(ctx, agency.id, ['admin']);
    assertProblem(
      t,
      await invite(ctx, admin.auth, agency.id, { name: 'O', email: uniqueEmail(), roles: ['owner'] }),
      403,
      'OWNER_REQUIRED',
    );
  });

  t.test('an invitation is void once its sender can no longer grant it: account deleted, removed, demoted', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    // Deleted.
    const inviter = await member(ctx, org.id, ['admin']);
    const { id, token } = await invited(ctx, inviter.auth, org.id, { email: uniqueEmail('orphan'), roles: ['auditor'] });
    const { auth } = await relogin(ctx, inviter);
    const gone = await ctx.app.inject({ method: 'DELETE', url: '/v1/me', headers: auth, payload: { password: inviter.password } });
    t.equal(gone.statusCode, 204, gone.body);
    const row = await ctx.db.selectFrom('org_invitations').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    t.equal(row.invited_by, null);
    assertProblem(t, await accept(ctx, { token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID', 'the sender deleted their account');
    // Removed: an admin who invited their own alternate address as admin, then was removed.
    const removed = await member(ctx, org.id, ['admin']);
    const alt = await invited(ctx, removed.auth, org.id, { email: uniqueEmail('alt'), roles: ['admin'] });
    t.equal(
      (await ctx.app.inject({ method: 'DELETE', url: `/v1/orgs/${org.id}/members/${removed.id}`, headers: owner.auth })).statusCode,
      204,
    );
    assertProblem(t, await accept(ctx, { token: alt.token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID', 'the sender was removed');
    // Demoted below what the invitation grants.
    const demoted = await member(ctx, org.id, ['admin']);
    const grant = await invited(ctx, demoted.auth, org.id, { email: uniqueEmail('grant'), roles: ['admin'] });
    const down = await ctx.app.inject({
      method: 'PATCH',
      url: `/v1/orgs/${org.id}/members/${demoted.id}`,
      headers: owner.auth,
      payload: { roles: ['developer'] },
    });
    t.equal(down.statusCode, 200, down.body);
    assertProblem(
      t,
      await accept(ctx, { token: grant.token, password: GOOD_PASSWORD }),
      400,
      'INVITATION_INVALID',
      'the sender was demoted',
    );
    // Still an admin: it works.
    const still = await member(ctx, org.id, ['admin']);
    const fine = await invited(ctx, still.auth, org.id, { email: uniqueEmail('fine'), roles: ['auditor'] });
    t.equal((await accept(ctx, { token: fine.token, password: GOOD_PASSWORD })).statusCode, 201);
  });

  t.test('INVITATION_TTL_DAYS sets the lifetime', async (t) => {
    const short = await buildTestApp(t, { env: { INVITATION_TTL_DAYS: '2' } });
    const { owner, org } = await orgWithOwner(short);
    const res = await invite(short, owner.auth, org.id, { name: 'S', email: uniqueEmail(), roles: ['auditor'] });
    const view = res.json();
    t.equal(Math.round((Date.parse(view.expires_at) - Date.parse(view.created_at)) / 86_400_000), 2);
  });
});
