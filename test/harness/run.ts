/**
 * `npm test`: starts one embedded PostgreSQL and one redis-server for the run, runs tap (extra
 * arguments are passed on to it), and ends with the plain line "N passed, N failed" (plus
 * ", N skipped" when any) that CI reads.
 *
 * The counts come from the run's own TAP stream (the runner's, in which each test file is a
 * subtest), read with tap-parser, the parser tap itself uses. They count each file's top-level
 * tests (its level-1 test points, subtests or bare assertions):
 * - ok counts as passed, # SKIP and # TODO as skipped, not ok as failed;
 * - a file with no top-level test at all (empty, crashed before its first test, skipped as a
 *   whole) counts as one failure;
 * - a file that tap marks not ok although none of its tests failed (non-zero exit, signal,
 *   timeout, plan mismatch) counts one failure more;
 * - tap exiting non-zero with no failure counted (a bail-out, a crash of the runner) counts as one.
 *
 * The terminal shows tap's own report: the `base` reporter on a terminal, raw TAP otherwise (as
 * tap itself would choose; `--reporter=...` overrides). With a reporter the TAP stream is read
 * from --output-file; with raw TAP the stream is tap's stdout itself, copied to ours and read
 * as it goes (tap would print it twice with --output-file).
 */
import { spawn } from 'node:child_process';
import { createReadStream } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { Parser, type Result } from 'tap-parser';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { startTestPostgres } from './services.js';

const red = (s: string) => `\x1b[1;31m${s}\x1b[0m`;

type Counts = { passed: number; failed: number; skipped: number; failures: string[] };

/** The reporter asked for on the command line (--reporter=x, --reporter x, -R x, -Rx), if any. */
function requestedReporter(args: string[]): string | undefined {
  let found: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === '--') break;
    if (a === '--reporter' || a === '-R') found = args[++i];
    else if (a.startsWith('--reporter=')) found = a.slice('--reporter='.length);
    else if (a.startsWith('-R')) found = a.slice(2).replace(/^=/, '');
  }
  return found;
}

/** Reads a run's TAP stream; resolves with the counts once it ends (see the rules above). */
function countResults(tap: Readable): Promise<Counts> {
  return new Promise((resolve, reject) => {
    const counts: Counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
    type FileTally = { tests: number; failed: number };
    // A file's subtest is announced (its child parser) before its own test point closes it.
    let pending: FileTally | null = null;
    const parser = new Parser();
    parser.on('child', (child: Parser) => {
      const tally: FileTally = { tests: 0, failed: 0 };
      pending = tally;
      child.on('assert', (r: Result) => {
        tally.tests++;
        if (r.skip || r.todo) counts.skipped++;
        else if (r.ok) counts.passed++;
        else {
          tally.failed++;
          counts.failed++;
          counts.failures.push(`${child.name} > ${r.name}`);
        }
      });
    });
    parser.on('assert', (file: Result) => {
      const tally: FileTally = pending ?? { tests: 0, failed: 0 };
      pending = null;
      const diag = (file.diag ?? {}) as { exitCode?: unknown; signal?: unknown };
      const exit = diag.signal ? `signal ${diag.signal}` : diag.exitCode ? `exit code ${diag.exitCode}` : null;
      if (tally.tests === 0) {
        counts.failed++;
        const why = exit ?? (typeof file.skip === 'string' ? file.skip : null);
        counts.failures.push(`${file.name}: no test ran${why ? ` (${why})` : ''}`);
      } else if (!file.ok && !file.skip && !file.todo && tally.failed === 0) {
        counts.failed++;
        counts.failures.push(`${file.name}: ${exit ?? 'reported as failed'}`);
      }
    });
    parser.on('complete', () => resolve(counts));
    tap.on('error', reject);
    tap.pipe(parser);
  });
}

async function main() {
  const pg = await startTestPostgres();
  let redisUrl = process.env.REDIS_URL;
  let redis: RedisServer | null = null;
  if (!redisUrl) {
    redis = await startRedisServer().catch(async (err) => {
      await pg.stop();
      throw err;
    });
    redisUrl = redis?.url;
  }
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

  const args = process.argv.slice(2);
  const asked = requestedReporter(args);
  const reporter = asked ?? (process.env.TAP !== '1' && process.stdout.isTTY && !process.env.NO_COLOR ? 'base' : 'tap');
  const rawTap = reporter === 'tap' || process.env.TAP === '1';
  // This run's results in a directory of its own: several runs may share the checkout.
  const resultsDir = await mkdtemp(path.join(os.tmpdir(), 'tessera-tap-results-'));
  const resultsFile = path.join(resultsDir, 'run.tap');
  const tapArgs = [
    path.resolve('node_modules/tap/dist/esm/run.mjs'),
    ...(asked ? [] : [`--reporter=${reporter}`]),
    ...(rawTap ? [] : [`--output-file=${resultsFile}`]),
    ...args,
  ];
  const env = { ...process.env, TESSERA_TEST_PG_URL: pg.url, TESSERA_TEST_REDIS_URL: redisUrl ?? '' };
  const child = spawn(process.execPath, tapArgs, { env, stdio: ['inherit', rawTap ? 'pipe' : 'inherit', 'inherit'] });
  // Ctrl-C reaches tap through the terminal; the harness stays to stop the databases.
  const forward = (signal: NodeJS.Signals) => () => child.kill(signal);
  process.on('SIGINT', forward('SIGINT'));
  process.on('SIGTERM', forward('SIGTERM'));
  let counting: Promise<Counts> | null = null;
  if (rawTap) {
    child.stdout!.on('data', (chunk: Buffer) => process.stdout.write(chunk));
    counting = countResults(child.stdout!);
  }
  const code: number = await new Promise((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  await Promise.allSettled([pg.stop(), redis?.stop()]);

  let counts: Counts;
  try {
    counts = await (counting ?? countResults(createReadStream(resultsFile)));
  } catch (err) {
    process.stderr.write(red(`could not read tap's results: ${(err as Error).message}\n`));
    counts = { passed: 0, failed: 0, skipped: 0, failures: [] };
  }
  await rm(resultsDir, { recursive: true, force: true });

  if (!redisUrl) process.stderr.write(red('WARNING: Redis tests were skipped (no redis-server).\n'));
  if (counts.failures.length) process.stdout.write(`\nFailed:\n${counts.failures.map((f) => `  ${f}`).join('\n')}\n\n`);
  const failed = counts.failed === 0 && code !== 0 ? 1 : counts.failed;
  if (failed && !counts.failures.length) process.stdout.write(`\ntap exited with code ${code}\n\n`);
  process.stdout.write(`${counts.passed} passed, ${failed} failed${counts.skipped ? `, ${counts.skipped} skipped` : ''}\n`);
  process.exit(code === 0 && failed === 0 ? 0 : 1);
}

main().catch((err) => {
  process.stderr.write(`test harness failed: ${err.stack ?? err}\n`);
  process.stdout.write('0 passed, 1 failed\n');
  process.exit(1);
});
