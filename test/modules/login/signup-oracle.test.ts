import t from 'tap';
import { buildTestApp, createVerifiedUser, uniqueEmail } from '../../helpers/app.js';
import { median } from '../../helpers/stats.js';

t.test('signup(X, P) then login(X, P) answers the same whether or not X already had an account', async (t) => {
  const ctx = await buildTestApp(t, {
    env: { ARGON2_MEMORY_KIB: '19456', ARGON2_ITERATIONS: '2', LOGIN_ACCOUNT_FREE_FAILURES: '1000', LOGIN_IP_FREE_FAILURES: '1000' },
  });
  const P = 'the-attackers-probe-password-1';
  const probe = async (email: string) => {
    const signup = await ctx.app.inject({ method: 'POST', url: '/v1/signup', payload: { email, password: P, name: 'Probe' } });
    t.equal(signup.statusCode, 202);
    const started = process.hrtime.bigint();
    const res = await ctx.app.inject({ method: 'POST', url: '/v1/login', payload: { email, password: P } });
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    const { request_id: _id, ...body } = res.json();
    return { status: res.statusCode, body, ms };
  };
  await probe(uniqueEmail('warm'));
  const times = { existing: [] as number[], fresh: [] as number[] };
  const answers = new Set<string>();
  for (let i = 0; i < 9; i++) {
    const existing = (await createVerifiedUser(ctx)).email;
    const order = i % 2 ? (['fresh', 'existing'] as const) : (['existing', 'fresh'] as const);
    for (const kind of order) {
      const r = await probe(kind === 'existing' ? existing : uniqueEmail('fresh'));
      times[kind].push(r.ms);
      answers.add(JSON.stringify([r.status, r.body]));
    }
  }
  t.equal(answers.size, 1, `one answer for both: ${[...answers].join(' | ')}`);
  t.match(JSON.parse([...answers][0]), [401, { code: 'INVALID_CREDENTIALS' }]);
  const me = median(times.existing);
  const mf = median(times.fresh);
  t.comment(`median login latency after signup: existing ${me.toFixed(1)} ms, fresh ${mf.toFixed(1)} ms`);
  t.ok(mf >= 0.5 * me && mf <= 2 * me, `fresh ${mf.toFixed(1)} ms within 0.5x-2x of existing ${me.toFixed(1)} ms`);
});
