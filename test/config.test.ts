import t from 'tap';
import { ConfigError, loadConfig } from '../src/config.js';

t.test('defaults are the embedded ones: port 8080 on 127.0.0.1, migrations and emails to the log', async (t) => {
  const c = loadConfig({});
  t.equal(c.port, 8080);
  t.equal(c.host, '127.0.0.1');
  t.equal(c.publicUrl, 'http://127.0.0.1:8080');
  t.equal(c.issuer, c.publicUrl);
  t.equal(c.migrateOnStart, true);
  t.equal(c.mailToLog, true);
  t.equal(c.requireEmailVerification, true);
  t.same(c.argon2, { memoryCost: 19456, timeCost: 2, parallelism: 1 });
  t.equal(c.accessTokenTtl, 900);
  t.equal(c.refreshTokenTtl, 43200);
});

t.test('with DATABASE_URL, migrations and mail-to-log are off unless asked for', async (t) => {
  const c = loadConfig({ DATABASE_URL: 'postgres://u:p@db:5432/tessera' });
  t.equal(c.migrateOnStart, false);
  t.equal(c.mailToLog, false);
  t.equal(loadConfig({ DATABASE_URL: 'postgres://u:p@db/x', MIGRATE_ON_START: 'true', MAIL_TO_LOG: 'yes' }).mailToLog, true);
});

t.test('every bad variable is named in the error', async (t) => {
  const err = t.throws(() =>
    loadConfig({ PORT: 'abc', REDIS_URL: 'http://x', REQUIRE_EMAIL_VERIFICATION: 'maybe', TRUST_PROXY: 'everyone' }),
  ) as Error;
  t.ok(err instanceof ConfigError);
  for (const name of ['PORT', 'REDIS_URL', 'REQUIRE_EMAIL_VERIFICATION', 'TRUST_PROXY']) t.match(err.message, name);
});

t.test('TRUST_PROXY takes false, true, a hop count or a list of proxies', async (t) => {
  t.equal(loadConfig({}).trustProxy, false);
  t.equal(loadConfig({ TRUST_PROXY: 'true' }).trustProxy, true);
  t.equal(loadConfig({ TRUST_PROXY: '1' }).trustProxy, 1);
  t.same(loadConfig({ TRUST_PROXY: '10.0.0.0/8, 192.168.1.5' }).trustProxy, ['10.0.0.0/8', '192.168.1.5']);
});

t.test('the second-factor budget: 20 per 15 minutes, and a lock after 100 in a row (NIST SP 800-63B 5.2.2)', async (t) => {
  t.same(loadConfig({}).mfa.failureBudget, { maxFailures: 20, windowSeconds: 900, lockAfter: 100 });
  t.equal(loadConfig({ MFA_ACCOUNT_LOCK_FAILURES: '6' }).mfa.failureBudget.lockAfter, 6);
  for (const bad of ['0', '-1', 'abc', '1.5', '10001']) {
    const err = t.throws(() => loadConfig({ MFA_ACCOUNT_LOCK_FAILURES: bad }), `${bad} is refused`) as Error;
    t.match(err.message, 'MFA_ACCOUNT_LOCK_FAILURES');
  }
});
