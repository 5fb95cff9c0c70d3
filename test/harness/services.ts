import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startEmbeddedPostgres } from '../../src/infra/db/embedded.js';

/** One PostgreSQL for the whole run; each test file makes its own database in it. */
export async function startTestPostgres() {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-test-pg-'));
  const pg = await startEmbeddedPostgres(dir, undefined, { database: 'postgres' });
  return {
    url: pg.url,
    async stop() {
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
