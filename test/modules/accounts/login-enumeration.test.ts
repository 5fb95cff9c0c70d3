import t from 'tap';
import { buildTestApp, createVerifiedUser, uniqueEmail } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { median } from '../../helpers/stats.js';

t.test('login does not reveal whether an account exists: same status, same body, similar latency', async (t) => {
  // The production argon2 parameters, so the password check dominates as it does in production;
  // throttles raised so that 30 failures do not turn into 429s.
  const ctx = await buildTestApp(t, {
    env: { ARGON2_MEMORY_KIB: '19456', ARGON2_ITERATIONS: '2', LOGIN_ACCOUNT_FREE_FAILURES: '1000', LOGIN_IP_FREE_FAILURES: '1000' },
  });
  const known = await createVerifiedUser(ctx);
  const unknown = uniqueEmail('ghost');
  const attempt = async (email: string) => {
    const started = process.hrtime.bigint();
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password: 'wrong-but-plausible-password' } });
    return { res, ms: Number(process.hrtime.bigint() - started) / 1e6 };
  };

  // Warm both paths (connection pool, JIT, the dummy hash) before measuring.
  await attempt(unknown);
  await attempt(known.email);

  const times = { known: [] as number[], unknown: [] as number[] };
  const bodies = { known: [] as Record<string, unknown>[], unknown: [] as Record<string, unknown>[] };
  for (let i = 0; i < 15; i++) {
    // Interleaved, and alternating which goes first, so drift in machine load hits both alike.
    const order = i % 2 ? (['unknown', 'known'] as const) : (['known', 'unknown'] as const);
    for (const kind of order) {
      const { res, ms } = await attempt(kind === 'known' ? known.email : unknown);
      const { request_id: _requestId, ...rest } = assertProblem(t, res, 401, 'INVALID_CREDENTIALS', `${kind} #${i}`);
      times[kind].push(ms);
      bodies[kind].push(rest);
    }
  }
  t.match(bodies.known[0], { code: 'INVALID_CREDENTIALS' });
  for (const b of [...bodies.known, ...bodies.unknown]) t.same(b, bodies.known[0], 'identical body except request_id');

  const mk = median(times.known);
  const mu = median(times.unknown);
  t.comment(`median latency: known email + wrong password ${mk.toFixed(1)} ms, unknown email ${mu.toFixed(1)} ms`);
  t.ok(mk > 5, `the known path really verifies a hash (${mk.toFixed(1)} ms)`);
  t.ok(mu >= 0.5 * mk, `unknown median ${mu.toFixed(1)} >= 0.5 x known median ${mk.toFixed(1)}`);
  t.ok(mu <= 2 * mk, `unknown median ${mu.toFixed(1)} <= 2 x known median ${mk.toFixed(1)}`);

  // Failed logins of an unknown address leave no trace that could later tell them apart.
  const users = await ctx.db.selectFrom('users').select('email_normalized').execute();
  t.same(
    users.map((u) => u.email_normalized),
    [known.email],
    'no row appeared for the unknown email',
  );
});
