import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

// int8 (bigserial) stays a string; timestamptz parses to Date (pg's default).
export type Db = Kysely<Database>;

export function connectDb(url: string, poolSize = 20): Db {
  // A request that cannot get a connection within 10 s fails rather than waiting for ever.
  const pool = new pg.Pool({ connectionString: url, max: poolSize, idleTimeoutMillis: 30_000, connectionTimeoutMillis: 10_000 });
  // A dropped idle connection must not crash the process; the pool replaces it.
  pool.on('error', () => undefined);
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}
