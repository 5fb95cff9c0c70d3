import t from 'tap';
import { buildTestApp, createVerifiedUser, GOOD_PASSWORD, uniqueEmail } from '../../helpers/app.js';
import { orgWithOwner, person } from '../../helpers/orgs.js';
import { accept, invited } from './invitations-support.js';

/** Single use under concurrency: of ten simultaneous accepts of one invitation, exactly one succeeds. */
t.test('concurrent accepts', async (t) => {
  const ctx = await buildTestApp(t, { kv: 'redis' });

  const statuses = (responses: Array<{ statusCode: number; json(): { code?: string } }>) => {
    const counts: Record<string, number> = {};
    for (const r of responses) {
      const key = r.statusCode === 201 ? '201' : `${r.statusCode} ${r.json().code}`;
      counts[key] = (counts[key] ?? 0) + 1;
    }
    return counts;
  };

  /** The user's memberships of the org and role rows there, as the database holds them after the race. */
  const membership = async (orgId: string, userId: string) => {
    const members = await ctx.db
      .selectFrom('org_members')
      .select('user_id')
      .where('org_id', '=', orgId)
      .where('user_id', '=', userId)
      .execute();
    const roles = await ctx.db
      .selectFrom('org_member_roles')
      .select('role_id')
      .where('org_id', '=', orgId)
      .where('user_id', '=', userId)
      .execute();
    return { members: members.length, roles: roles.length };
  };
  /** Ten accepts of one invitation at once. */
  const race = (send: () => Promise<{ statusCode: number; json(): { code?: string } }>) => Promise.all(Array.from({ length: 10 }, send));

  t.test('a new account: one 201, one account, one membership', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const email = uniqueEmail('race-new');
    const { token } = await invited(ctx, owner.auth, org.id, { email, roles: ['auditor'] });
    const responses = await race(() => accept(ctx, { token, password: GOOD_PASSWORD }));
    t.same(statuses(responses), { '201': 1, '400 INVITATION_INVALID': 9 });
    const users = await ctx.db.selectFrom('users').select('id').where('email', '=', email).execute();
    t.equal(users.length, 1, 'one account');
    t.same(await membership(org.id, users[0]!.id), { members: 1, roles: 1 }, 'one membership, its role');
  });

  t.test('an existing account, logged in: one 201, one membership', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await person(ctx);
    const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor', 'dpo'] });
    const responses = await race(() => accept(ctx, { token }, invitee.auth));
    t.same(statuses(responses), { '201': 1, '400 INVITATION_INVALID': 9 });
    t.same(await membership(org.id, invitee.id), { members: 1, roles: 2 }, 'one membership, its two roles, once each');
  });

  t.test('an existing account, with its password: one 201, one membership', async (t) => {
    const { owner, org } = await orgWithOwner(ctx);
    const invitee = await createVerifiedUser(ctx);
    const { token } = await invited(ctx, owner.auth, org.id, { email: invitee.email, roles: ['auditor', 'dpo'] });
    const responses = await race(() => accept(ctx, { token, password: invitee.password }));
    // A burst of password checks is counted as a burst (the throttle counts before it checks):
    // some are held back; of the rest, one wins the invitation.
    const counts = statuses(responses);
    t.equal(counts['201'], 1, JSON.stringify(counts));
    t.same(
      Object.keys(counts).filter((k) => k !== '201' && k !== '400 INVITATION_INVALID' && k !== '429 PASSWORD_ATTEMPTS_THROTTLED'),
      [],
      'every other answer is a used invitation or the password throttle',
    );
    const user = await ctx.db.selectFrom('users').select('id').where('email', '=', invitee.email).executeTakeFirstOrThrow();
    t.same(await membership(org.id, user.id), { members: 1, roles: 2 }, 'one membership, its two roles, once each');
  });
});
