import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import type { Test } from 'tap';
import { createRedisKv } from '../../src/infra/kv/redis.js';
import { buildTestApp, type TestApp } from './app.js';

/**
 * Instances of one deployment, as in production: apps on one database and one Redis, reading and
 * writing the same keys (one key prefix per call, so test files stay apart). `raw` is a plain
 * client on the same Redis, to look at or wipe the deployment's keys.
 */
export function deployment(t: Test, url: string) {
  const prefix = `t${randomBytes(4).toString('hex')}:`;
  const raw = new Redis(url);
  t.teardown(() => raw.disconnect());
  let first: TestApp | undefined;
  return {
    prefix,
    raw,
    /** A new instance: the first one creates the database, the others share it. */
    async instance(): Promise<TestApp> {
      const kv = await createRedisKv(url, undefined, prefix);
      t.teardown(() => kv.close());
      const app = await buildTestApp(t, { kv, ...(first ? { shareDb: { db: first.db, url: first.dbUrl } } : {}) });
      first ??= app;
      return app;
    },
    /** Every key of the deployment. */
    keys: () => raw.keys(`${prefix}*`),
  };
}
