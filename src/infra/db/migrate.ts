import { readdir, readFile } from 'node:fs/promises';
import path from 'node:path';
import { sql } from 'kysely';
import type { Db } from './connect.js';
import { projectRoot } from '../project-root.js';
import { sha256 } from '../random.js';

const migrationsDir = () => path.join(projectRoot(), 'migrations');

export class MigrationError extends Error {}

/**
 * Applies numbered, forward-only SQL files in order, each in its own transaction. A session
 * advisory lock lets any number of instances start at once: one migrates, the others wait.
 * Each applied file's SHA-256 is recorded; a file edited after it was applied stops the run,
 * since the database no longer matches what the repository says built it.
 */
export async function migrate(db: Db, dir = migrationsDir()): Promise<string[]> {
  const files = (await readdir(dir)).filter((f) => /^\d{4}_[a-z0-9_]+\.sql$/.test(f)).sort();
  const bodies = new Map(await Promise.all(files.map(async (f) => [f, await readFile(path.join(dir, f), 'utf8')] as const)));
  const checksum = (body: string) => sha256(body).toString('hex');
  return db.connection().execute(async (conn) => {
    await sql`select pg_advisory_lock(727274)`.execute(conn);
    try {
      await sql`create table if not exists schema_migrations (
        version text primary key, applied_at timestamptz not null default now())`.execute(conn);
      await sql`alter table schema_migrations add column if not exists checksum text`.execute(conn);
      const done = new Map(
        (await sql<{ version: string; checksum: string | null }>`select version, checksum from schema_migrations`.execute(conn)).rows.map(
          (r) => [r.version, r.checksum],
        ),
      );
      for (const [version, recorded] of done) {
        const body = bodies.get(version);
        if (body === undefined) continue;
        if (recorded === null) {
          // Applied before checksums were kept: record what the file says now.
          await sql`update schema_migrations set checksum = ${checksum(body)} where version = ${version}`.execute(conn);
        } else if (recorded !== checksum(body)) {
          throw new MigrationError(`migration ${version} was changed after it was applied; add a new migration instead of editing it`);
        }
      }
      const applied: string[] = [];
      for (const file of files) {
        if (done.has(file)) continue;
        const body = bodies.get(file)!;
        await conn.transaction().execute(async (tx) => {
          await sql.raw(body).execute(tx);
          await sql`insert into schema_migrations (version, checksum) values (${file}, ${checksum(body)})`.execute(tx);
        });
        applied.push(file);
      }
      return applied;
    } finally {
      await sql`select pg_advisory_unlock(727274)`.execute(conn);
    }
  });
}
