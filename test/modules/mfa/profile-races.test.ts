import t from 'tap';
import { randomBytes, randomUUID } from 'node:crypto';
import { buildTestApp, loggedInUser, type TestApp } from '../../helpers/app.js';
import { createUnitOfWork } from '../../../src/infra/db/unit-of-work.js';
import { createLogger } from '../../../src/infra/logger.js';
import { createFactorLifecycle } from '../../../src/modules/mfa/lifecycle.js';
import { createMfaStore } from '../../../src/modules/mfa/store.js';
import { createBackupCodes } from '../../../src/modules/mfa/factors/backup-codes.js';
import { manualClock, userIdOf } from './flow-support.js';

/**
 * Turning factors on and off at the same moment (two tabs, two devices) must leave the account as
 * one of the two orders would: backup codes exist exactly when a factor is on, ten of them.
 * Security keys are used here because an account may have many (one per kind for the others).
 */
const clock = manualClock();
const ctx = await buildTestApp(t, { kv: 'memory', clock });
const context = { ip: '198.51.100.7', userAgent: 'races-test' };

function lifecycleOf(ctx: TestApp) {
  const store = createMfaStore(ctx.db);
  const backupCodes = createBackupCodes({ store, clock, secrets: [Buffer.alloc(32, 3)] });
  const lifecycle = createFactorLifecycle({
    store,
    withTransaction: createUnitOfWork(ctx.db),
    backupCodes,
    sessions: ctx.services.sessions,
    accounts: ctx.services.accounts,
    audit: ctx.services.audit,
    mailer: ctx.mail,
    logger: createLogger('silent'),
    clock,
    userEmail: (userId) => ctx.services.accounts.emailOf(userId),
    factorRequired: (userId, kinds, tx) => ctx.services.orgs.factorRequired(userId, kinds, tx),
  });
  return { store, lifecycle };
}

const { store, lifecycle } = lifecycleOf(ctx);

async function key(userId: string, confirmed: boolean) {
  return store.insert({
    id: randomUUID(),
    user_id: userId,
    kind: 'webauthn',
    name: `Key ${randomBytes(2).toString('hex')}`,
    credential_id: randomBytes(16),
    public_key: randomBytes(65),
    sign_count: 0,
    confirmed_at: confirmed ? clock.now() : null,
  });
}

async function state(userId: string) {
  const factors = await ctx.db.selectFrom('mfa_factors').select(['id', 'confirmed_at']).where('user_id', '=', userId).execute();
  const codes = await ctx.db.selectFrom('mfa_backup_codes').select('code_hash').where('user_id', '=', userId).execute();
  return { confirmed: factors.filter((f) => f.confirmed_at).length, codes: codes.length };
}

t.test('two first factors confirmed at once: one set of ten backup codes, returned to one of them', async (t) => {
  for (let round = 0; round < 8; round++) {
    const userId = await userIdOf(ctx, (await loggedInUser(ctx)).email);
    const [a, b] = [await key(userId, false), await key(userId, false)];
    const results = await Promise.all([lifecycle.enable(userId, a, {}, context), lifecycle.enable(userId, b, {}, context)]);
    t.same(await state(userId), { confirmed: 2, codes: 10 }, `round ${round}: ten codes, not two sets`);
    t.equal(results.filter((r) => r.backupCodes).length, 1, `round ${round}: only the first is shown codes`);
  }
});

t.test('a factor confirmed while the only other one is removed keeps the backup codes', async (t) => {
  for (let round = 0; round < 8; round++) {
    const userId = await userIdOf(ctx, (await loggedInUser(ctx)).email);
    const old = await key(userId, false);
    await lifecycle.enable(userId, old, {}, context);
    const next = await key(userId, false);
    await Promise.all([lifecycle.remove(userId, old.id, context), lifecycle.enable(userId, next, {}, context)]);
    t.same(await state(userId), { confirmed: 1, codes: 10 }, `round ${round}: a factor is on, so its backup codes are there`);
  }
});

t.test('new backup codes asked for while the last factor is removed leave none behind', async (t) => {
  for (let round = 0; round < 8; round++) {
    const userId = await userIdOf(ctx, (await loggedInUser(ctx)).email);
    const only = await key(userId, false);
    await lifecycle.enable(userId, only, {}, context);
    await Promise.allSettled([lifecycle.remove(userId, only.id, context), lifecycle.regenerateBackupCodes(userId, context)]);
    t.same(await state(userId), { confirmed: 0, codes: 0 }, `round ${round}: no factor, no codes`);
  }
});
