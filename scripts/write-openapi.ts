/**
 * Regenerates openapi/openapi.json from the zod schemas. Needs a database (the app loads its
 * signing keys at start), so it runs an embedded one in a temporary folder.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { buildApp } from '../src/app.js';
import { loadConfig } from '../src/config.js';
import { connectDb } from '../src/infra/db/connect.js';
import { startEmbeddedPostgres } from '../src/infra/db/embedded.js';
import { migrate } from '../src/infra/db/migrate.js';
import { createKeyring, generateKeySpec } from '../src/infra/keyring.js';
import { createMemoryKv } from '../src/infra/kv/memory.js';
import { createLogger } from '../src/infra/logger.js';
import { createMemoryMailer } from '../src/infra/mailer.js';
import { openapiDocument } from '../src/openapi.js';

const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-openapi-'));
const pg = await startEmbeddedPostgres(dir);
try {
  const db = connectDb(pg.url, 2);
  await migrate(db);
  const app = await buildApp(loadConfig({}), {
    db,
    kv: createMemoryKv(),
    mailer: createMemoryMailer(),
    keyring: createKeyring(generateKeySpec()),
    logger: createLogger('silent'),
  });
  await writeFile('openapi/openapi.json', openapiDocument(app));
  await app.close();
  await db.destroy();
  process.stdout.write('wrote openapi/openapi.json\n');
} finally {
  await pg.stop();
  await rm(dir, { recursive: true, force: true });
}
