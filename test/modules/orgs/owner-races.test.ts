import t from 'tap';
import type { Test } from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { call, joinOrg, member, orgWithOwner, ownersOf, person, relogin } from '../../helpers/orgs.js';
import type { Actor } from '../../../src/modules/orgs/members.js';

/**
 * An org never loses its last Owner: not when two Owners demote, remove or leave at the same
 * moment (every change locks the org row first, so the second sees one Owner left), and not one
 * at a time (the last Owner cannot leave, be removed or be demoted).
 */

const ctx = await buildTestApp(t);
const ROUNDS = 10;

// Two people reused across the rounds: each round is a fresh org of which both are the Owners.
const alice = await person(ctx, { name: 'Alice Owner' });
const bob = await person(ctx, { name: 'Bob Owner' });

/** A fresh org with exactly two Owners, both logged in for it. */
async function twoOwners(round: number) {
  const created = await call(ctx, 'POST', '/v1/orgs', alice.auth, { name: `Race ${round}`, role_preset: 'compliance' });
  if (created.statusCode !== 201) throw new Error(`org creation failed: ${created.body}`);
  const orgId = (created.json() as { id: string }).id;
  await joinOrg(ctx, orgId, bob.id, ['owner']);
  const [a, b] = await Promise.all([relogin(ctx, alice, orgId), relogin(ctx, bob, orgId)]);
  return { orgId, a: a.auth, b: b.auth };
}

type Res = Awaited<ReturnType<typeof call>>;

/**
 * How the second request of a pair is refused. When both are inside the service at once, the org
 * lock makes the second find one Owner left: LAST_OWNER. When the first had committed before the
 * second reached the guard, the second is refused earlier, because its sender is no longer an
 * Owner (OWNER_REQUIRED), no longer a member (ORG_NOT_FOUND) or holds a revoked session or stale
 * token: the invariant is the same, one Owner left.
 */
const REFUSALS: Record<string, number> = {
  LAST_OWNER: 409,
  OWNER_REQUIRED: 403,
  ORG_NOT_FOUND: 404,
  SESSION_REVOKED: 401,
  TOKEN_STALE: 401,
};

/** Exactly one of the two succeeded, the other was refused, and exactly one Owner is left. Returns the refusal's code. */
async function assertOneWinner(t: Test, orgId: string, label: string, results: Res[], success: number): Promise<string | undefined> {
  const detail = results.map((r) => `${r.statusCode} ${r.body.slice(0, 100)}`).join(' | ');
  const winners = results.filter((r) => r.statusCode === success);
  t.equal(winners.length, 1, `${label}: exactly one succeeds (${detail})`);
  const loser = results.find((r) => r.statusCode !== success);
  let code: string | undefined;
  if (loser) {
    code = (loser.json() as { code?: string }).code;
    t.ok(code !== undefined && code in REFUSALS, `${label}: the other is refused (${code})`);
    if (code && code in REFUSALS) assertProblem(t, loser, REFUSALS[code]!, code, `${label}: the other`);
  }
  t.equal((await ownersOf(ctx, orgId)).length, 1, `${label}: one Owner remains`);
  return code;
}

/**
 * The rounds must really have overlapped: at least one was decided under the lock, not one after
 * the other. Under the lock the loser reads its access again: demoted, it may not touch an Owner
 * (OWNER_REQUIRED); removed, it is no member (ORG_NOT_FOUND); else the count refuses (LAST_OWNER).
 */
function assertOverlapped(t: Test, codes: Array<string | undefined>, underLock: string[] = ['LAST_OWNER']) {
  t.ok(
    codes.some((c) => c !== undefined && underLock.includes(c)),
    `at least one round raced inside the service (refusals: ${codes.join(', ')})`,
  );
}

t.test('two Owners demote each other at the same moment: one succeeds, one Owner remains', async (t) => {
  const codes: Array<string | undefined> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { orgId, a, b } = await twoOwners(round);
    const results = await Promise.all([
      call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${bob.id}`, a, { roles: ['admin'] }),
      call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${alice.id}`, b, { roles: ['admin'] }),
    ]);
    codes.push(await assertOneWinner(t, orgId, `round ${round}`, results, 200));
  }
  // Under the lock the loser is an Admin already: it may not touch the remaining Owner.
  assertOverlapped(t, codes, ['LAST_OWNER', 'OWNER_REQUIRED']);
});

t.test('two Owners remove each other at the same moment: one succeeds, one Owner remains', async (t) => {
  const codes: Array<string | undefined> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { orgId, a, b } = await twoOwners(round);
    const results = await Promise.all([
      call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${bob.id}`, a),
      call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${alice.id}`, b),
    ]);
    codes.push(await assertOneWinner(t, orgId, `round ${round}`, results, 204));
    t.equal(
      (await ctx.db.selectFrom('org_members').select('user_id').where('org_id', '=', orgId).execute()).length,
      1,
      `round ${round}: one member left`,
    );
  }
  assertOverlapped(t, codes, ['LAST_OWNER', 'ORG_NOT_FOUND']);
});

t.test('two Owners leave at the same moment: one succeeds, one Owner remains', async (t) => {
  const codes: Array<string | undefined> = [];
  for (let round = 0; round < ROUNDS; round++) {
    const { orgId, a, b } = await twoOwners(round);
    const results = await Promise.all([
      call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${alice.id}`, a),
      call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${bob.id}`, b),
    ]);
    codes.push(await assertOneWinner(t, orgId, `round ${round}`, results, 204));
  }
  assertOverlapped(t, codes);
});

t.test('one Owner leaves while the other demotes them: the org keeps an Owner', async (t) => {
  for (let round = 0; round < ROUNDS; round++) {
    const { orgId, a, b } = await twoOwners(round);
    const results = await Promise.all([
      call(ctx, 'DELETE', `/v1/orgs/${orgId}/members/${alice.id}`, a),
      call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${alice.id}`, b, { roles: ['admin'] }),
      call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${bob.id}`, a, { roles: ['admin'] }),
    ]);
    t.ok(
      results.every((r) => r.statusCode < 500),
      `round ${round}: no server error (${results.map((r) => r.statusCode).join(', ')})`,
    );
    t.ok((await ownersOf(ctx, orgId)).length >= 1, `round ${round}: an Owner remains`);
  }
});

t.test('the last Owner cannot leave, be demoted or be removed (LAST_OWNER); nothing changes', async (t) => {
  const { owner, org } = await orgWithOwner(ctx, 'crm', 'Lonely Owner');
  const { auth } = await relogin(ctx, owner, org.id);
  const manager = await member(ctx, org.id, ['manager']);

  assertProblem(t, await call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${owner.id}`, auth), 409, 'LAST_OWNER', 'leaving');
  assertProblem(
    t,
    await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${owner.id}`, auth, { roles: ['manager'] }),
    409,
    'LAST_OWNER',
    'demoting themselves',
  );
  // Anyone else is stopped earlier: only an Owner acts on an Owner.
  assertProblem(
    t,
    await call(ctx, 'DELETE', `/v1/orgs/${org.id}/members/${owner.id}`, manager.auth),
    403,
    'OWNER_REQUIRED',
    'removal by a Manager',
  );
  assertProblem(
    t,
    await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${owner.id}`, manager.auth, { roles: ['manager'] }),
    403,
    'OWNER_REQUIRED',
    'demotion by a Manager',
  );
  t.same(await ownersOf(ctx, org.id), [owner.id], 'still the Owner');
  // Keeping Owner while adding a role is no demotion.
  const added = await call(ctx, 'PATCH', `/v1/orgs/${org.id}/members/${owner.id}`, auth, { roles: ['owner', 'manager'] });
  t.equal(added.statusCode, 200, added.body);
});

t.test('an Owner demoted a moment earlier acts with what they hold now (the race, step by step)', async (t) => {
  // Bob's request passed the guard as an Owner; then Alice demoted him; then his request runs.
  const { orgId, a } = await twoOwners(99);
  const access = await ctx.services.orgAccess.resolve(bob.id, orgId);
  if (!access) throw new Error('bob is no member');
  const stale: Actor = { ...access, userId: bob.id };
  t.ok(stale.isOwner, 'Bob acts as an Owner');
  t.equal((await call(ctx, 'PATCH', `/v1/orgs/${orgId}/members/${bob.id}`, a, { roles: ['admin'] })).statusCode, 200, 'Alice demotes Bob');
  // His access is read again under the org's lock: an Admin now, he cannot touch the Owner.
  await t.rejects(
    ctx.services.orgMembers.remove(stale, alice.id, { ip: '127.0.0.1', userAgent: null }),
    { code: 'OWNER_REQUIRED' },
    'removing the Owner is refused',
  );
  await t.rejects(
    ctx.services.orgMembers.setRoles(stale, alice.id, ['admin'], { ip: '127.0.0.1', userAgent: null }),
    { code: 'OWNER_REQUIRED' },
    'demoting the Owner is refused',
  );
  t.same(await ownersOf(ctx, orgId), [alice.id]);
});
