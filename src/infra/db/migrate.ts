import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from './connect.js';


function migrationsDir(): string {
  // Works from src/ (tsx) and from dist/src/ (compiled): walk up to the folder holding migrations/.
  const here = path.dirname(fileURLToPath(import.meta.url));
  const parts = here.split(path.sep);
  const root = parts.slice(0, parts.lastIndexOf('src')).join(path.sep).replace(/[\\/]dist$/, '');
  return path.join(root, 'migrations');
}

/**
 * Applies numbered, forward-only SQL files in order, each in its own transaction. A session
 * advisory lock lets any number of instances start at once: one migrates, the others wait.
 */
export async function migrate(db: Db, dir = migrationsDir()): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(727274)`.execute(conn);
    try {
      await sql`create table if not exists schema_migrations (
        version text primary key, applied_at timestamptz not null default now())`.execute(conn);
      const done = new Set(
        (await sql<{ version: string }>`select version from schema_migrations`.execute(conn)).rows.map((r) => r.version),
      );
      const applied: string[] = [];
      for (const file of files) {
        if (done.has(file)) continue;
        const body = await readFile(path.join(dir, file), 'utf8');
        await conn.transaction().execute(async (tx) => {
          await sql.raw(body).execute(tx);
          await sql`insert into schema_migrations (version) values (${file})`.execute(tx);
        });
        applied.push(file);
      }
      return applied;
    } finally {
      await sql`select pg_advisory_unlock(727274)`.execute(conn);
    }
  });
}
