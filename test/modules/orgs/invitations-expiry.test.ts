import t from 'tap';
import { buildTestApp, GOOD_PASSWORD, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { orgWithOwner, relogin } from '../../helpers/orgs.js';
import { manualClock } from '../mfa/totp-support.js';
import { accept, invite, invited, listInvitations, preview, resend, revoke } from './invitations-support.js';

const DAY = 86_400;

/** Expiry, on a clock the test moves: a link is good for seven days and not a second more. */
t.test('invitation expiry', async (t) => {
  const clock = manualClock();
  const ctx = await buildTestApp(t, { clock });

  t.test('an expired invitation is INVITATION_INVALID at preview and accept, and can be neither resent nor revoked', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const { id, token } = await invited(ctx, owner.auth, org.id, { email: uniqueEmail('late'), roles: ['auditor'] });
    clock.advance(7 * DAY - 1);
    t.equal((await preview(ctx, token)).statusCode, 200, 'good one second before');
    clock.advance(1);
    assertProblem(t, await preview(ctx, token), 400, 'INVITATION_INVALID');
    assertProblem(t, await accept(ctx, { token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    const { auth } = await relogin(ctx, owner, org.id);
    assertProblem(t, await resend(ctx, auth, org.id, id), 404, 'INVITATION_NOT_FOUND');
    assertProblem(t, await revoke(ctx, auth, org.id, id), 404, 'INVITATION_NOT_FOUND');
    const list = await listInvitations(ctx, auth, org.id);
    t.equal(list.json().invitations.find((i: { id: string }) => i.id === id)?.status, 'expired');
  });

  t.test('inviting the address again closes the expired invitation; the new link works, the old stays dead', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('again');
    const first = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    clock.advance(3 * DAY);
    const { auth } = await relogin(ctx, owner, org.id);
    assertProblem(t, await invite(ctx, auth, org.id, { name: 'Again', email, roles: ['auditor'] }), 409, 'INVITATION_PENDING');
    clock.advance(5 * DAY);
    const { auth: later } = await relogin(ctx, owner, org.id);
    const second = await invited(ctx, later, org.id, { email, roles: ['dpo'] });
    const closed = await ctx.db.selectFrom('org_invitations').selectAll().where('id', '=', first.id).executeTakeFirstOrThrow();
    t.ok(closed.revoked_at, 'the expired one was closed');
    const list = await listInvitations(ctx, later, org.id);
    const status = new Map(list.json().invitations.map((i: { id: string; status: string }) => [i.id, i.status]));
    t.equal(status.get(first.id), 'expired', 'shown as expired, not revoked');
    t.equal(status.get(second.id), 'pending');
    assertProblem(t, await accept(ctx, { token: first.token, password: GOOD_PASSWORD }), 400, 'INVITATION_INVALID');
    const done = await accept(ctx, { token: second.token, password: GOOD_PASSWORD });
    t.equal(done.statusCode, 201, done.body);
    t.same(done.json().roles, ['dpo']);
  });

  t.test('resend gives a new seven days', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('renewed');
    const { id } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    clock.advance(6 * DAY);
    const { auth } = await relogin(ctx, owner, org.id);
    const res = await resend(ctx, auth, org.id, id);
    t.equal(res.statusCode, 200, res.body);
    t.equal(Date.parse(res.json().expires_at), clock.now().getTime() + 7 * DAY * 1000);
  });
});
