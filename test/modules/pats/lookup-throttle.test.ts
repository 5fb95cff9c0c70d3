import t from 'tap';
import { buildTestApp } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { orgWithOwner } from '../../helpers/orgs.js';
import { createPat, PAT_TOKEN_TYPE, TOKEN_EXCHANGE } from '../../helpers/pats.js';
import { generatePat } from '../../../src/modules/pats/format.js';
import { manualClock } from '../mfa/flow-support.js';

/**
 * The checksum is public, so anyone can make secrets that pass it; each unknown one costs a
 * database lookup. Per client address, PAT_LOOKUP_MISSES_PER_MINUTE of them a minute, then 429
 * before any lookup, on the token endpoint and for service credentials alike. Tokens already
 * known to the instance, and other addresses, are not held back.
 */
const clock = manualClock();
const ctx = await buildTestApp(t, { clock, env: { PAT_LOOKUP_MISSES_PER_MINUTE: '3' } });
const { owner, org } = await orgWithOwner(ctx, 'compliance', 'Throttle Org');

const exchangeFrom = (ip: string, secret: string) =>
  ctx.app.inject({
    method: 'POST',
    url: '/v1/token',
    remoteAddress: ip,
    payload: { grant_type: TOKEN_EXCHANGE, subject_token: secret, subject_token_type: PAT_TOKEN_TYPE },
  });
const introspectFrom = (ip: string, credential: string) =>
  ctx.app.inject({
    method: 'POST',
    url: '/v1/introspect',
    remoteAddress: ip,
    headers: { authorization: `Bearer ${credential}` },
    payload: { token: 'x' },
  });
const forged = () => generatePat().secret;

t.test('three unknown secrets from one address, then 429 before the lookup; a known token and another address still pass', async (t) => {
  clock.advance(60 - (clock.nowSeconds() % 60));
  const known = await createPat(ctx, owner.auth, { org_id: org.id, scopes: ['tokens:introspect'] });
  t.equal((await exchangeFrom('10.0.0.1', known.token)).statusCode, 200, 'a known token, looked up once');

  for (let i = 1; i <= 2; i++) assertProblem(t, await exchangeFrom('10.0.0.1', forged()), 400, 'INVALID_GRANT', `unknown secret ${i}`);
  assertProblem(t, await introspectFrom('10.0.0.1', forged()), 401, 'INVALID_TOKEN', 'the third, as a service credential');

  const held = await exchangeFrom('10.0.0.1', forged());
  const body = assertProblem(t, held, 429, 'RATE_LIMITED', 'the fourth is refused');
  t.equal(held.headers['retry-after'], String(body.retry_after));
  const retryAfter = Number(body.retry_after);
  t.ok(retryAfter > 0 && retryAfter <= 60, 'until the minute ends');
  assertProblem(t, await introspectFrom('10.0.0.1', forged()), 429, 'RATE_LIMITED', 'for service credentials too');

  t.equal((await exchangeFrom('10.0.0.1', known.token)).statusCode, 200, 'the known token is served from memory');
  t.equal((await introspectFrom('10.0.0.1', known.token)).statusCode, 200, 'and works as a credential');
  assertProblem(t, await exchangeFrom('10.0.0.2', forged()), 400, 'INVALID_GRANT', 'another address is counted apart');

  clock.advance(60);
  assertProblem(t, await exchangeFrom('10.0.0.1', forged()), 400, 'INVALID_GRANT', 'the next minute the address may look up again');
});
