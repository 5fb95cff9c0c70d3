import { randomUUID } from 'node:crypto';
import t from 'tap';
import { systemClock } from '../../../src/infra/clock.js';
import { createKeyring } from '../../../src/infra/keyring.js';
import { createMemoryKv } from '../../../src/infra/kv/memory.js';
import { createLogger } from '../../../src/infra/logger.js';
import { createMemorySmsSender } from '../../../src/infra/sms/index.js';
import type { AuditService } from '../../../src/modules/audit/index.js';
import type { Attempt } from '../../../src/modules/mfa/factor.js';
import { createSmsFactor } from '../../../src/modules/mfa/factors/sms.js';
import type { FactorLifecycle } from '../../../src/modules/mfa/lifecycle.js';
import { createMfaStore, type MfaStore } from '../../../src/modules/mfa/store.js';
import { buildTestApp, TEST_KEYS } from '../../helpers/app.js';
import { codeIn, lastCode, reauthChallenge, reauthenticate, smsLogin, userWithPhone } from '../../helpers/sms-flow.js';

// Two instances of the app on one database and one Redis.
const env = { SMS_PER_NUMBER_PER_HOUR: '1000', SMS_PER_USER_PER_HOUR: '1000' };
const one = await buildTestApp(t, { kv: 'redis', env });
const two = await buildTestApp(t, { kv: one.kv, shareDb: { db: one.db, url: one.dbUrl }, env });

t.test('ten step-ups with the same code, split across two instances: exactly one succeeds', async (t) => {
  const user = await userWithPhone(one);
  const session = await smsLogin(one, user);
  await reauthChallenge(one, session.auth);
  const code = lastCode(one);
  const results = await Promise.all(Array.from({ length: 10 }, (_, i) => reauthenticate(i % 2 ? two : one, session.auth, code)));
  const statuses = results.map((r) => r.statusCode);
  t.equal(statuses.filter((s) => s === 200).length, 1, `one 200 (${statuses.join(',')})`);
});

t.test('the factor itself: twenty verifications of one code at once, on two instances, one wins', async (t) => {
  const user = await userWithPhone(one);
  // Two factor instances as two processes would have them: nothing shared but Postgres and Redis.
  const sender = createMemorySmsSender();
  const instance = () =>
    createSmsFactor({
      store: createMfaStore(one.db),
      lifecycle: {} as FactorLifecycle,
      kv: one.kv,
      keyring: createKeyring(TEST_KEYS),
      audit: { recordDetached() {} } as unknown as AuditService,
      clock: systemClock,
      logger: createLogger('silent'),
      userEmail: async () => user.email,
      sms: { sender, perUserPerHour: 1000, perNumberPerHour: 1000, brand: 'Tessera' },
    });
  const [a, b] = [instance(), instance()];
  for (let round = 0; round < 3; round++) {
    const attempt: Attempt = { id: `race:${randomUUID()}`, userId: user.userId, purpose: 'reauthenticate' };
    await a.challenge!(attempt, {});
    const code = codeIn(sender.sent.at(-1)!.body);
    const results = await Promise.all(Array.from({ length: 20 }, (_, i) => (i % 2 ? b : a).verify(attempt, { code }, {})));
    t.equal(results.filter((r) => r !== null).length, 1, `round ${round + 1}: one verification won`);
    t.equal(await b.verify(attempt, { code }, {}), null, 'and the code is spent afterwards');
  }
});

t.test('a burst of guesses: only five are compared, so a right code sent last in a burst of fifty loses', async (t) => {
  // In-process store and KV, so the fifty checks run in step: each takes its try in the order sent.
  const keyring = createKeyring(TEST_KEYS);
  const id = randomUUID();
  const row = { id, user_id: 'u1', kind: 'sms', name: '+1 ••• ••• 2671', secret_enc: keyring.encrypt('+14155552671', `mfa_factor:${id}`) };
  const store = { findByKind: async () => ({ ...row, confirmed_at: new Date() }), touch: async () => {} } as unknown as MfaStore;
  const sender = createMemorySmsSender();
  const factor = createSmsFactor({
    store,
    lifecycle: {} as FactorLifecycle,
    kv: createMemoryKv(),
    keyring,
    audit: { recordDetached() {} } as unknown as AuditService,
    clock: systemClock,
    logger: createLogger('silent'),
    userEmail: async () => '',
    sms: { sender, perUserPerHour: 1000, perNumberPerHour: 1000, brand: 'Tessera' },
  });
  const attempt: Attempt = { id: 'burst', userId: 'u1', purpose: 'reauthenticate' };
  await factor.challenge!(attempt, {});
  const code = codeIn(sender.sent.at(-1)!.body);
  const guesses = Array.from({ length: 49 }, (_, i) => String((Number(code) + 1 + i) % 1_000_000).padStart(6, '0'));
  const results = await Promise.all([...guesses, code].map((c) => factor.verify(attempt, { code: c }, {})));
  t.same(
    results.filter((r) => r !== null),
    [],
    'the right code, sixth or later in line, was never compared',
  );
});
