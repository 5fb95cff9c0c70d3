/**
 * `npm test`: starts one embedded PostgreSQL and one redis-server for the run, runs tap, and
 * ends with the plain line "N passed, N failed" that CI reads.
 */
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startTestPostgres, startTestRedis } from './services.js';

const red = (s: string) => `\x1b[1;31m${s}\x1b[0m`;

async function collect(dir: string): Promise<string[]> {
  const out: string[] = [];
  for (const entry of await readdir(dir, { withFileTypes: true }).catch(() => [])) {
    const full = path.join(dir, entry.name);
    if (entry.isDirectory()) out.push(...(await collect(full)));
    else if (entry.name.endsWith('.tap')) out.push(full);
  }
  return out;
}

/** Counts each file's top-level tests (lines "ok N" / "not ok N" at column 0). */
async function count(dir: string): Promise<{ passed: number; failed: number; skipped: number }> {
  let passed = 0;
  let failed = 0;
  let skipped = 0;
  for (const file of await collect(dir)) {
    const text = await readFile(file, 'utf8');
    let any = false;
    for (const line of text.split('\n')) {
      const m = /^(not )?ok \d+/.exec(line);
      if (!m) continue;
      any = true;
      if (/# SKIP/i.test(line)) skipped++;
      else if (m[1]) failed++;
      else passed++;
    }
    if (!any) failed++;
  }
  return { passed, failed, skipped };
}

async function main() {
  const pg = await startTestPostgres();
  let redisUrl = process.env.REDIS_URL;
  const redis = redisUrl ? null : await startTestRedis();
  redisUrl ??= redis?.url;
  if (!redisUrl) {
    const msg = 'WARNING: no redis-server on PATH and no REDIS_URL: the Redis tests are SKIPPED.';
    if (process.env.REQUIRE_REDIS === '1') {
      process.stderr.write(red(`${msg} REQUIRE_REDIS=1 makes that a failure.\n`));
      await pg.stop();
      process.stdout.write('0 passed, 1 failed\n');
      process.exit(1);
    }
    process.stderr.write(red(`${msg}\n`));
  }
  // Results of this run only, in a directory of its own: several runs may share the checkout.
  const resultsDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-tap-results-'));
  const env = { ...process.env, TESSERA_TEST_PG_URL: pg.url, TESSERA_TEST_REDIS_URL: redisUrl ?? '' };
  const code: number = await new Promise((resolve) => {
    const child = spawn(process.execPath, [path.resolve('node_modules/tap/dist/esm/run.mjs'), `--output-dir=${resultsDir}`, ...process.argv.slice(2)], {
      env,
      stdio: 'inherit',
    });
    child.on('exit', (c) => resolve(c ?? 1));
  });
  await Promise.allSettled([pg.stop(), redis?.stop()]);
  const { passed, failed, skipped } = await count(resultsDir);
  await rm(resultsDir, { recursive: true, force: true });
  if (!redisUrl) process.stderr.write(red('WARNING: Redis tests were skipped (no redis-server).\n'));
  const failedTotal = failed === 0 && code !== 0 ? 1 : failed;
  process.stdout.write(`${passed} passed, ${failedTotal} failed${skipped ? `, ${skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failedTotal === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`test harness failed: ${err.stack ?? err}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
});
