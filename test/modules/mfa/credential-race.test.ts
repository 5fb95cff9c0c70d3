/**
 * A login whose password was checked just before a password change, and which parks just after
 * it: the parked login must die with the old password. The KV store is wrapped so the login can
 * be held at the moment it records its credential (after the check), while the change commits.
 */
import t from 'tap';
import type { KeyValueStore } from '../../../src/infra/kv/kv.js';
import { createMemoryKv } from '../../../src/infra/kv/memory.js';
import { buildTestApp, login } from '../../helpers/app.js';
import { assertProblem } from '../../helpers/problem.js';
import { manualClock, nextTotp, secondStep, userWithTotp } from './flow-support.js';

const clock = manualClock();
const inner = createMemoryKv(clock);
let hold: { reached: () => void; released: Promise<void> } | null = null;
// Every call goes to the real store; the first write of a credential mark waits while `hold` is set.
const kv: KeyValueStore = Object.assign(Object.create(Object.getPrototypeOf(inner)) as KeyValueStore, inner, {
  async setIfAbsent(key: string, value: string, ttl: number) {
    if (hold && key.includes(':credential:')) {
      const h = hold;
      hold = null;
      h.reached();
      await h.released;
    }
    return inner.setIfAbsent(key, value, ttl);
  },
});
const ctx = await buildTestApp(t, { kv, clock });

t.test('checked against the old password, parked after the change: the second step refuses it', async (t) => {
  const user = await userWithTotp(ctx, clock);
  let reached!: () => void;
  let release!: () => void;
  const atMark = new Promise<void>((r) => (reached = r));
  hold = { reached, released: new Promise<void>((r) => (release = r)) };
  const first = login(ctx, user.email, user.password);
  await atMark; // the old password has been checked; the login has not parked yet
  const change = await ctx.app.inject({
    method: 'POST',
    url: '/v1/me/password',
    headers: user.auth,
    payload: { current_password: user.password, new_password: 'entirely-new-password-77' },
  });
  t.equal(change.statusCode, 200, 'the password changed meanwhile');
  await new Promise((r) => setTimeout(r, 50)); // its after-commit work (the new mark)
  release();
  const { body } = await first;
  t.equal(body.status, 'mfa_required', 'the first step answered (its check was right when it ran)');
  assertProblem(t, await secondStep(ctx, body.mfa_token, 'totp', nextTotp(user.secret, clock)), 401, 'MFA_TOKEN_INVALID');
});

t.test('a login parked under the new password completes, and so does one when the mark has expired', async (t) => {
  const user = await userWithTotp(ctx, clock);
  const parked = (await login(ctx, user.email, user.password)).body.mfa_token as string;
  clock.advance(24 * 3600 - 120); // the mark's life nearly over; the parked login is new
  const fresh = (await login(ctx, user.email, user.password)).body.mfa_token as string;
  t.equal((await secondStep(ctx, fresh, 'totp', nextTotp(user.secret, clock))).statusCode, 200, 'with the mark');
  clock.advance(180); // the mark is gone: the account row answers
  const again = (await login(ctx, user.email, user.password)).body.mfa_token as string;
  await ctx.kv.del(`tessera:{mfa}:credential:${user.id}`);
  t.equal((await secondStep(ctx, again, 'totp', nextTotp(user.secret, clock))).statusCode, 200, 'without it');
  void parked;
});
