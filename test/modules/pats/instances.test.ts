import t from 'tap';
import { redisUrl } from '../../helpers/app.js';
import { deployment } from '../../helpers/instances.js';
import { assertProblem } from '../../helpers/problem.js';
import { call, member, orgWithOwner, relogin } from '../../helpers/orgs.js';
import { basic, createPat, exchange, exchanged, whoami } from '../../helpers/pats.js';

/**
 * Instant death across instances: two apps on one database and one Redis. A PAT revoked (or its
 * owner removed) through A is refused at once on B, which had just used it (its row and the
 * owner's access in B's memory), and so is every access token it gave; when Redis loses the
 * marks, an instance starting up restores them from the revocations table.
 */
if (!redisUrl()) {
  t.test('PAT revocation across instances', { skip: 'no Redis' }, async () => undefined);
} else {
  const { raw, keys: deploymentKeys, instance } = deployment(t, redisUrl()!);
  const a = await instance();
  const b = await instance();
  const { owner, org } = await orgWithOwner(a, 'compliance', 'Instances Org');
  const { auth: ownerAuth } = await relogin(a, owner, org.id);
  const left: { revokedToken?: string; removedToken?: string; liveToken?: string } = {};

  t.test('revoked on A: its access tokens are refused on B at once, and B refuses to exchange it', async (t) => {
    const pat = await createPat(a, owner.auth, { org_id: org.id, scopes: ['reports:read'] });
    // B uses it first: it remembers the row (and the owner's access) from now on.
    const token = await exchanged(b, pat.token);
    t.equal((await whoami(b, token)).statusCode, 200);
    t.equal(
      (await b.app.inject({ method: 'GET', url: '/v1/me', headers: { authorization: `Bearer ${await exchanged(a, pat.token)}` } }))
        .statusCode,
      200,
    );

    const del = await a.app.inject({ method: 'DELETE', url: `/v1/me/tokens/${pat.id}`, headers: owner.auth });
    t.equal(del.statusCode, 204, del.body);
    assertProblem(t, await whoami(b, token), 401, 'SESSION_REVOKED', 'its token on B');
    assertProblem(t, await whoami(a, token), 401, 'SESSION_REVOKED', 'and on A');
    assertProblem(t, await exchange(b, pat.token), 400, 'INVALID_GRANT', 'B no longer exchanges it');
    assertProblem(
      t,
      await b.app.inject({ method: 'POST', url: '/v1/admin/keys/rotate', headers: basic(pat.token) }),
      401,
      'INVALID_TOKEN',
      'nor takes it as a service credential',
    );
    left.revokedToken = token;
  });

  t.test('its owner removed from the org on A: the PAT and its tokens are refused on B at once', async (t) => {
    const dev = await member(a, org.id, ['developer'], 'Rem Oved');
    const pat = await createPat(a, dev.auth, { org_id: org.id, scopes: ['api:manage'] });
    const token = await exchanged(b, pat.token);
    t.equal((await whoami(b, token)).statusCode, 200);
    const removal = await call(a, 'DELETE', `/v1/orgs/${org.id}/members/${dev.id}`, ownerAuth);
    t.equal(removal.statusCode, 204, removal.body);
    assertProblem(t, await whoami(b, token), 401, 'SESSION_REVOKED');
    assertProblem(t, await exchange(b, pat.token), 400, 'INVALID_GRANT');
    left.removedToken = token;
  });

  t.test('Redis loses the marks: an instance starting up restores the PATs\u2019 from the revocations table', async (t) => {
    if (!left.revokedToken || !left.removedToken) return t.fail('the tests above left no tokens');
    const live = await createPat(a, (await relogin(a, owner)).auth, { org_id: org.id, scopes: ['reports:read'] });
    const liveToken = await exchanged(a, live.token);
    const keys = await deploymentKeys();
    t.ok(
      keys.some((k) => k.includes(':sid:')),
      `marks were in Redis (${keys.length} keys)`,
    );
    await raw.del(...keys);
    t.equal((await whoami(b, left.revokedToken)).statusCode, 200, 'with the marks gone the revoked PAT\u2019s token passes');

    const c = await instance();
    for (const [name, ctx] of [
      ['A', a],
      ['B', b],
      ['C', c],
    ] as const) {
      assertProblem(t, await whoami(ctx, left.revokedToken), 401, 'SESSION_REVOKED', `the revoked PAT's token on ${name}`);
      assertProblem(t, await whoami(ctx, left.removedToken), 401, 'SESSION_REVOKED', `the removed member's on ${name}`);
      t.equal((await whoami(ctx, liveToken)).statusCode, 200, `a live PAT's token still works on ${name}`);
    }
  });
}
