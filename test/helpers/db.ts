import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { connectDb, type Db } from '../../src/infra/db/connect.js';
import { migrate } from '../../src/infra/db/migrate.js';

export function adminUrl(): string {
  const url = process.env.TESSERA_TEST_PG_URL;
  if (!url) throw new Error('TESSERA_TEST_PG_URL is not set: run the tests with `npm test`');
  return url;
}

/** A fresh, migrated database of its own for one test file. */
export async function createTestDatabase(): Promise<{ url: string; db: Db; drop(): Promise<void> }> {
  const name = `t_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: adminUrl() });
  await admin.connect();
  await admin.query(`create database ${name}`);
  await admin.end();
  const url = adminUrl().replace(/\/[^/?]*(\?|$)/, `/${name}$1`);
  const db = connectDb(url, 10);
  await migrate(db);
  return {
    url,
    db,
    async drop() {
      await db.destroy();
      const c = new pg.Client({ connectionString: adminUrl() });
      await c.connect();
      await c.query(`drop database if exists ${name} with (force)`);
      await c.end();
    },
  };
}
