/**
 * npm run bench: what one Tessera process sustains on this machine, next to what its bounding
 * primitives allow. Starts its own PostgreSQL, Redis and Tessera (the compiled build, as a
 * separate process), seeds users, then measures password logins, refresh rotations and
 * authenticated reads. Knobs: bench/README.md. Results: printed, and .bench/results.json.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { setTimeout as sleep } from 'node:timers/promises';
import argon2 from 'argon2';
import autocannon, { type Request as CannonRequest, type Result as CannonResult } from 'autocannon';
import { sql } from 'kysely';
import { connectDb, type Db } from '../src/infra/db/connect.js';
import { startEmbeddedPostgres } from '../src/infra/db/embedded.js';
import { migrate } from '../src/infra/db/migrate.js';
import { freePort } from '../src/infra/net.js';
import { startRedisServer } from '../test/harness/redis-server.js';
import { jsonClient, refreshLoop, summarize, type JsonClient } from './client.js';
import { cpuSampler, type CpuUsage } from './cpu.js';
import { ARGON2, type Primitives } from './primitives.js';
import { postmasterPid, startTessera } from './services.js';
import { parkedTotpLogins, totpStepBody } from './mfa.js';
import { passkeyLoop, registerPasskeys } from './passkey.js';
import { seedOrg } from './orgs.js';
import { createPats, exchangeBody, mintedTokens } from './pats.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const knob = (name: string, fallback: number) => {
  const v = Number(process.env[name] ?? fallback);
  if (!Number.isFinite(v) || v <= 0) throw new Error(`${name} must be a positive number`);
  return v;
};
const USERS = knob('BENCH_USERS', 200);
const SECONDS = knob('BENCH_SECONDS', 10);
const LOGIN_CONNECTIONS = knob('BENCH_LOGIN_CONNECTIONS', 8);
// 16 clients saturate two cores; more only queue (32 gave ~1425/s at p99 52 ms, 16 gave ~1600/s at p99 20 ms).
const REFRESH_WORKERS = knob('BENCH_REFRESH_WORKERS', 16);
const ME_CONNECTIONS = knob('BENCH_ME_CONNECTIONS', 32);
const TOTP_CONNECTIONS = knob('BENCH_TOTP_CONNECTIONS', 16);
const PASSKEY_WORKERS = knob('BENCH_PASSKEY_WORKERS', 16);
const LIMITER_WORKERS = knob('BENCH_LIMITER_WORKERS', 16);
const CORES = os.availableParallelism();
const SCENARIOS = new Set(
  (process.env.BENCH_SCENARIOS ?? 'login,login-org,refresh,refresh-org,me,exchange,introspect,limiter,totp,passkey')
    .split(',')
    .map((s) => s.trim()),
);
// Diagnostics only: what the numbers become with Postgres not waiting for WAL flushes.
const PG_SYNCHRONOUS_COMMIT = process.env.BENCH_PG_SYNCHRONOUS_COMMIT;
const PASSWORD = 'bench-password-correct-horse-42';

const TARGET_LOGIN_RATIO = 0.9;
const TARGET_REFRESH_PER_SECOND = 1500;
const TARGET_REFRESH_P99_MS = 50;
const TARGET_TOTP_PER_SECOND = 1000;
// Logins and refreshes for an org (membership, roles and permissions resolved on the path) against the same run's without.
const TARGET_ORG_RATIO = 0.9;
const TARGET_EXCHANGE_PER_SECOND = 3000;
const TARGET_INTROSPECT_PER_SECOND = 5000;
const TARGET_INTROSPECT_P99_MS = 10;
// PATs for the exchange scenario (each its owner's, in the bench org) and access tokens for the distinct-introspection one.
const PAT_COUNT = knob('BENCH_PATS', 16);
const PAT_CONNECTIONS = knob('BENCH_PAT_CONNECTIONS', 32);
// Introspection's target is a rate and a p99 together: enough connections to keep Tessera busy,
// few enough that requests do not queue behind each other on two cores (at 32, a request waits
// for ~30 others: about 4.5 ms at 7,000/s before any work of its own).
const INTROSPECT_CONNECTIONS = knob('BENCH_INTROSPECT_CONNECTIONS', 12);
const INTROSPECT_DISTINCT_TOKENS = knob('BENCH_INTROSPECT_TOKENS', 4000);
// What the per-org rate limiter (one INCR in Redis per authenticated request) may add to GET /v1/me's p99.
const TARGET_LIMITER_P99_ADDED_MS = 1;
const PASSKEY_ORIGIN = 'https://localhost:8443';

const log = (msg: string) => process.stderr.write(`[bench] ${msg}\n`);

// ---- cleanup: everything started is stopped, in reverse, on success, error or Ctrl-C ----
const cleanups: Array<{ name: string; fn: () => Promise<void> }> = [];
const killOnExit = new Set<number>();
let cleaning: Promise<void> | null = null;
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const { name, fn } of cleanups.reverse()) {
      await fn().catch((err: Error) => log(`cleanup of ${name} failed: ${err.message}`));
    }
  })();
  return cleaning;
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    log(`${signal}: cleaning up`);
    void cleanup().finally(() => process.exit(130));
  });
}
// Last resort if the process dies without running cleanup: no orphaned server keeps the port.
process.on('exit', () => {
  for (const pid of killOnExit) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
});

function build() {
  if (process.env.BENCH_TSX === '1' || process.env.BENCH_SKIP_BUILD === '1') return;
  log('building (tsc -p tsconfig.build.json)');
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
  const res = spawnSync(process.execPath, [tsc, '-p', 'tsconfig.build.json'], { cwd: ROOT, encoding: 'utf8' });
  if (!existsSync(path.join(ROOT, 'dist', 'src', 'main.js')))
    throw new Error(`build produced no dist/src/main.js:\n${res.stdout}${res.stderr}`);
  // tsc still emits on type errors; the bench measures what was emitted and says so.
  if (res.status !== 0) log(`warning: tsc reported errors (emitted anyway):\n${res.stdout.split('\n').slice(0, 10).join('\n')}`);
}

async function seedUsers(db: Db, count: number, hash: string, prefix = 'bench-user'): Promise<string[]> {
  const now = new Date();
  const rows = Array.from({ length: count }, (_, i) => {
    const email = `${prefix}-${i}@bench.tessera.test`;
    return { id: randomUUID(), email, email_normalized: email, email_verified_at: now, password_hash: hash, name: `Bench User ${i}` };
  });
  await db.insertInto('users').values(rows).execute();
  return rows.map((r) => r.email);
}

type PgCounters = { xacts: number; walFsyncs: number | null };
async function pgCounters(db: Db): Promise<PgCounters> {
  await sql`select pg_stat_clear_snapshot()`.execute(db);
  const x = await sql<{ xacts: string }>`
    select xact_commit + xact_rollback as xacts from pg_stat_database where datname = current_database()`.execute(db);
  // PostgreSQL 16+: WAL flushes to disk (one per commit unless commits group).
  const f = await sql<{ fsyncs: string | null }>`
    select sum(fsyncs) as fsyncs from pg_stat_io where object = 'wal'`
    .execute(db)
    .catch(() => null);
  return { xacts: Number(x.rows[0]?.xacts ?? 0), walFsyncs: f?.rows[0]?.fsyncs == null ? null : Number(f.rows[0].fsyncs) };
}

type Scenario = {
  name: string;
  requests: number;
  perSecond: number;
  p50: number;
  p99: number;
  failures: Record<string, number>;
  cpu: CpuUsage;
  xactsPerRequest: number;
  walFsyncsPerRequest: number | null;
  bound: string;
  boundPerSecond: number | null;
  ratio: number | null;
};

/** Runs one measured phase with CPU and Postgres counters around it. */
async function measured(
  name: string,
  ctx: { db: Db; pids: Parameters<typeof cpuSampler>[0] },
  run: () => Promise<{ requests: number; perSecond: number; p50: number; p99: number; failures: Record<string, number> }>,
) {
  log(`measuring ${name}`);
  const before = await pgCounters(ctx.db);
  const cpu = cpuSampler(ctx.pids);
  const r = await run();
  const usage = cpu.stop();
  // Backends flush their statistics about once a second; give the last second a chance to land.
  await sleep(1100);
  const after = await pgCounters(ctx.db);
  const per = (d: number) => (r.requests ? Math.round((d / r.requests) * 100) / 100 : 0);
  return {
    ...r,
    name,
    cpu: usage,
    xactsPerRequest: per(after.xacts - before.xacts - 2),
    walFsyncsPerRequest: after.walFsyncs === null || before.walFsyncs === null ? null : per(after.walFsyncs - before.walFsyncs),
  };
}

function fromCannon(r: CannonResult) {
  const failures: Record<string, number> = {};
  for (const [status, { count }] of Object.entries(r.statusCodeStats ?? {})) if (!status.startsWith('2')) failures[status] = Number(count);
  if (r.errors) failures.errors = r.errors;
  if (r.timeouts) failures.timeouts = r.timeouts;
  return { requests: r['2xx'], perSecond: r['2xx'] / r.duration, p50: r.latency.p50, p99: r.latency.p99, failures };
}

async function loginOnce(client: JsonClient, email: string, orgId?: string) {
  const reply = await client.post('/v1/login', { email, password: PASSWORD, ...(orgId ? { org_id: orgId } : {}) });
  if (reply.status !== 200) throw new Error(`login of ${email} failed: ${reply.status} ${JSON.stringify(reply.body)}`);
  return { refresh_token: reply.body.refresh_token as string, access_token: reply.body.access_token as string };
}

async function runPrimitives(): Promise<Primitives> {
  log(`measuring primitives (argon2id ${ARGON2.memoryCost} KiB t=${ARGON2.timeCost} p=${ARGON2.parallelism}, ${CORES} in flight; ES256)`);
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'bench', 'primitives.ts')], {
    cwd: ROOT,
    env: { ...process.env, UV_THREADPOOL_SIZE: String(CORES) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  killOnExit.add(child.pid!);
  let out = '';
  child.stdout!.on('data', (c: Buffer) => (out += c.toString()));
  const code = await new Promise<number | null>((r) => child.once('exit', r));
  killOnExit.delete(child.pid!);
  if (code !== 0) throw new Error(`primitives run exited with ${code}`);
  return JSON.parse(out.trim().split('\n').pop()!) as Primitives;
}

/**
 * GET /v1/me back to back: one worker per token (node:http keep-alive), each sending its next
 * request when the last is answered, for `seconds`. Latencies in fractional milliseconds
 * (autocannon's are whole ones, too coarse for a sub-millisecond difference).
 */
async function meLoop(client: JsonClient, tokens: string[], seconds: number) {
  const latencies: number[] = [];
  const failures: Record<string, number> = {};
  const started = performance.now();
  const end = started + seconds * 1000;
  await Promise.all(
    tokens.map(async (token) => {
      const headers = { authorization: `Bearer ${token}` };
      while (performance.now() < end) {
        const reply = await client.get('/v1/me', headers);
        if (reply.status === 200) latencies.push(reply.ms);
        else {
          const key = `${reply.status} ${reply.body?.code ?? ''}`.trim();
          failures[key] = (failures[key] ?? 0) + 1;
        }
      }
    }),
  );
  return summarize(latencies, failures, started);
}

/** Several measured runs of one setting as one row: requests and failures added up, rates, percentiles and CPU averaged. */
function mergeRuns(name: string, runs: Array<Awaited<ReturnType<typeof measured>>>) {
  const mean = (f: (r: (typeof runs)[number]) => number) => runs.reduce((sum, r) => sum + f(r), 0) / runs.length;
  const failures: Record<string, number> = {};
  for (const r of runs) for (const [k, v] of Object.entries(r.failures)) failures[k] = (failures[k] ?? 0) + v;
  const cpu = { ...runs[0]!.cpu };
  for (const k of ['tessera', 'postgres', 'redis', 'loadgen', 'other', 'machine'] as const) cpu[k] = mean((r) => r.cpu[k]);
  const fsyncs = runs.every((r) => r.walFsyncsPerRequest !== null) ? mean((r) => r.walFsyncsPerRequest!) : null;
  return {
    name,
    requests: runs.reduce((sum, r) => sum + r.requests, 0),
    perSecond: mean((r) => r.perSecond),
    p50: mean((r) => r.p50),
    p99: mean((r) => r.p99),
    failures,
    cpu,
    xactsPerRequest: mean((r) => r.xactsPerRequest),
    walFsyncsPerRequest: fsyncs,
  };
}

const fmt = (n: number | null, digits = 1) => (n === null || !Number.isFinite(n) ? '-' : n.toFixed(digits));

function table(scenarios: Scenario[]): string {
  const head = ['scenario', 'requests/s', 'p50 ms', 'p99 ms', 'bound primitive', 'primitive ops/s', 'ratio'];
  const rows = scenarios.map((s) => [s.name, fmt(s.perSecond), fmt(s.p50), fmt(s.p99), s.bound, fmt(s.boundPerSecond), fmt(s.ratio, 3)]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === 0 || i === 4 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  return [line(head), widths.map((w) => '-'.repeat(w)).join('  '), ...rows.map(line)].join('\n');
}

async function main() {
  const startedAt = Date.now();
  build();

  const dir = await mkdtemp(path.join(os.tmpdir(), 'tessera-bench-'));
  cleanups.push({ name: 'temp dir', fn: () => rm(dir, { recursive: true, force: true }) });

  log('starting PostgreSQL and Redis');
  // Each registers its cleanup as soon as it is up, so neither is left running if the other fails.
  const [pg, redis] = await Promise.all([
    startEmbeddedPostgres(dir, undefined, { database: 'tessera' }).then((pg) => {
      cleanups.push({ name: 'postgres', fn: () => pg.stop() });
      return pg;
    }),
    startRedisServer().then((redis) => {
      if (redis) {
        cleanups.push({ name: 'redis', fn: () => redis.stop() });
        killOnExit.add(redis.pid);
      }
      return redis;
    }),
  ]);
  if (!redis) throw new Error('redis-server is not installed (needed by npm run bench)');

  const db = connectDb(pg.url, 2);
  cleanups.push({ name: 'bench db pool', fn: () => db.destroy() });
  await migrate(db);
  if (PG_SYNCHRONOUS_COMMIT) {
    if (!/^(on|off|local|remote_write|remote_apply)$/.test(PG_SYNCHRONOUS_COMMIT))
      throw new Error('BENCH_PG_SYNCHRONOUS_COMMIT must be on, off or local');
    await sql.raw(`alter database tessera set synchronous_commit = ${PG_SYNCHRONOUS_COMMIT}`).execute(db);
    log(`postgres: synchronous_commit = ${PG_SYNCHRONOUS_COMMIT} for database tessera (diagnostic)`);
  }
  const passwordHash = await argon2.hash(PASSWORD, ARGON2);
  const emails = await seedUsers(db, USERS, passwordHash);
  // Users of their own for passkeys: once one is registered, their password logins ask for a second factor.
  const passkeyEmails = SCENARIOS.has('passkey') ? await seedUsers(db, PASSKEY_WORKERS, passwordHash, 'bench-passkey') : [];
  log(`seeded ${emails.length} users`);
  const orgId = ['login-org', 'refresh-org', 'limiter', 'exchange', 'introspect'].some((n) => SCENARIOS.has(n))
    ? await seedOrg(db, emails)
    : undefined;
  // The limiter scenario's org: the enterprise plan (and the limits below) so that nothing is refused.
  if (orgId && SCENARIOS.has('limiter')) await db.updateTable('orgs').set({ plan: 'enterprise' }).where('id', '=', orgId).execute();

  // The bench seals TOTP secrets as the server does, so it holds the server's keyring.
  const keyringSpec = `bench1:${randomBytes(32).toString('base64')}`;
  // One parked login per user and request: enough for the target rate with room to spare.
  const totpLogins = SCENARIOS.has('totp')
    ? await parkedTotpLogins({
        db,
        redisUrl: redis.url,
        keyringSpec,
        passwordHash,
        count: Math.ceil(SECONDS * TARGET_TOTP_PER_SECOND * 2.5),
      })
    : [];
  if (totpLogins.length) log(`seeded ${totpLogins.length} TOTP users with parked logins`);

  const port = await freePort();
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: process.env.HOME ?? os.tmpdir(),
    NODE_ENV: 'production',
    PORT: String(port),
    HOST: '127.0.0.1',
    DATABASE_URL: pg.url,
    REDIS_URL: redis.url,
    TESSERA_ENCRYPTION_KEYS: keyringSpec,
    DATA_DIR: path.join(dir, 'data'),
    LOG_LEVEL: 'warn',
    // Passkeys are bound to a domain; the software authenticator signs for this one.
    WEBAUTHN_RP_ID: 'localhost',
    WEBAUTHN_ORIGINS: PASSKEY_ORIGIN,
    REQUIRE_EMAIL_VERIFICATION: 'false',
    MAIL_TO_LOG: 'true',
    ARGON2_MEMORY_KIB: String(ARGON2.memoryCost),
    ARGON2_ITERATIONS: String(ARGON2.timeCost),
    ARGON2_PARALLELISM: String(ARGON2.parallelism),
    LOGIN_ACCOUNT_FREE_FAILURES: '1000000',
    LOGIN_IP_FREE_FAILURES: '1000000',
    PUBLIC_RATE_LIMIT_PER_MINUTE: '1000000',
    // The per-org (per-user without an org) limit of authenticated requests: on, and far above
    // what the bench sends, so it counts every request and refuses none.
    RATE_LIMIT_STARTER_PER_MINUTE: '1000000000',
    RATE_LIMIT_PROFESSIONAL_PER_MINUTE: '1000000000',
    RATE_LIMIT_ENTERPRISE_PER_MINUTE: '1000000000',
    RATE_LIMIT_USER_PER_MINUTE: '1000000000',
    PAT_EXCHANGES_PER_MINUTE: '1000000',
    UV_THREADPOOL_SIZE: String(CORES),
    ...(process.env.BENCH_DB_POOL_SIZE ? { DATABASE_POOL_SIZE: process.env.BENCH_DB_POOL_SIZE } : {}),
  };
  log(`starting Tessera (${process.env.BENCH_TSX === '1' ? 'tsx src/main.ts' : 'node dist/src/main.js'}, UV_THREADPOOL_SIZE=${CORES})`);
  const server = await startTessera(ROOT, env, port);
  killOnExit.add(server.pid);
  cleanups.push({ name: 'tessera', fn: () => server.stop() });

  const ctx = { db, pids: { tessera: server.pid, postmaster: await postmasterPid(dir), redis: redis.pid } };
  const client = jsonClient(server.url, REFRESH_WORKERS + 8);
  cleanups.push({ name: 'http client', fn: async () => client.close() });

  // The server is idle here: the primitives get the machine to themselves.
  const primitives = await runPrimitives();

  /** An autocannon scenario: a warm-up (a second, or `warm.amount` requests; none for logins), then SECONDS measured. */
  const cannon = async (label: string, connections: number, request: CannonRequest, warm: { amount?: number; timeout?: number } = {}) => {
    const base = { url: server.url, connections, requests: [request], ...(warm.timeout ? { timeout: warm.timeout } : {}) };
    if (warm.amount !== 0) await autocannon({ ...base, ...(warm.amount ? { amount: warm.amount } : { duration: 1 }) });
    return measured(label, ctx, async () => fromCannon(await autocannon({ ...base, duration: SECONDS })));
  };

  const scenarios: Scenario[] = [];
  const targets: Array<{ target: string; actual: string; pass: boolean }> = [];

  // Password logins, cycling through the seeded users (for an org: membership, roles and
  // permissions resolved on the path).
  const loginRun = async (name: string, extra: Record<string, string>) => {
    let next = 0;
    const loginBody = () => JSON.stringify({ email: emails[next++ % emails.length], password: PASSWORD, ...extra });
    const login = await cannon(
      name,
      LOGIN_CONNECTIONS,
      {
        method: 'POST',
        path: '/v1/login',
        headers: { 'content-type': 'application/json' },
        setupRequest: (req) => ({ ...req, body: loginBody() }),
      },
      { amount: 0, timeout: 30 },
    );
    const ratio = login.perSecond / primitives.argon2VerifyPerSecond;
    const scenario = { ...login, bound: 'argon2id verify', boundPerSecond: primitives.argon2VerifyPerSecond, ratio };
    scenarios.push(scenario);
    return scenario;
  };

  // (a) password logins.
  const plainLogin = SCENARIOS.has('login') ? await loginRun('login (POST /v1/login)', {}) : undefined;
  if (plainLogin) {
    targets.push({
      target: `logins >= ${TARGET_LOGIN_RATIO * 100}% of argon2 bound`,
      actual: `${fmt(plainLogin.perSecond)}/s = ${fmt(plainLogin.ratio * 100)}% of ${fmt(primitives.argon2VerifyPerSecond)}/s`,
      pass: plainLogin.ratio >= TARGET_LOGIN_RATIO,
    });
  }
  // (a') the same for an org.
  if (SCENARIOS.has('login-org') && orgId) {
    const login = await loginRun('login with org_id', { org_id: orgId });
    if (plainLogin) {
      const vs = login.perSecond / plainLogin.perSecond;
      targets.push({
        target: `logins with org_id >= ${TARGET_ORG_RATIO * 100}% of logins without`,
        actual: `${fmt(login.perSecond)}/s vs ${fmt(plainLogin.perSecond)}/s = ${fmt(vs * 100)}%`,
        pass: vs >= TARGET_ORG_RATIO,
      });
    }
  }

  // Sessions for (b) and (c): one per refresh worker, logged in a few at a time.
  const sessions: Array<{ refresh_token: string; access_token: string }> = [];
  for (let i = 0; i < REFRESH_WORKERS; i += CORES * 2) {
    const batch = emails.slice(i, Math.min(i + CORES * 2, REFRESH_WORKERS));
    sessions.push(...(await Promise.all(batch.map((e) => loginOnce(client, e)))));
  }

  // (b) refresh rotations: each worker holds one session and chains its tokens.
  if (SCENARIOS.has('refresh')) {
    const relogin = (i: number) => loginOnce(client, emails[i % emails.length]);
    await refreshLoop(client, sessions, 1, relogin); // warm-up: JIT, pool connections, sockets
    const refresh = await measured('refresh (POST /v1/token)', ctx, () => refreshLoop(client, sessions, SECONDS, relogin));
    scenarios.push({
      ...refresh,
      bound: 'ES256 sign',
      boundPerSecond: primitives.es256SignPerSecond,
      ratio: refresh.perSecond / primitives.es256SignPerSecond,
    });
    targets.push({
      target: `refresh >= ${TARGET_REFRESH_PER_SECOND}/s with p99 < ${TARGET_REFRESH_P99_MS} ms`,
      actual: `${fmt(refresh.perSecond)}/s, p99 ${fmt(refresh.p99)} ms`,
      pass: refresh.perSecond >= TARGET_REFRESH_PER_SECOND && refresh.p99 < TARGET_REFRESH_P99_MS,
    });
  }

  // (b') refresh rotations of sessions in an org: each rotation resolves the member's roles and
  // permissions for the new access token.
  if (SCENARIOS.has('refresh-org') && orgId) {
    const orgSessions: Array<{ refresh_token: string; access_token: string }> = [];
    for (let i = 0; i < REFRESH_WORKERS; i += CORES * 2) {
      const batch = emails.slice(i, Math.min(i + CORES * 2, REFRESH_WORKERS));
      orgSessions.push(...(await Promise.all(batch.map((e) => loginOnce(client, e, orgId)))));
    }
    const relogin = (i: number) => loginOnce(client, emails[i % emails.length], orgId);
    await refreshLoop(client, orgSessions, 1, relogin); // warm-up
    const refresh = await measured('refresh with org', ctx, () => refreshLoop(client, orgSessions, SECONDS, relogin));
    scenarios.push({
      ...refresh,
      bound: 'ES256 sign',
      boundPerSecond: primitives.es256SignPerSecond,
      ratio: refresh.perSecond / primitives.es256SignPerSecond,
    });
    const plain = scenarios.find((s) => s.name.startsWith('refresh ('));
    if (plain) {
      const vs = refresh.perSecond / plain.perSecond;
      targets.push({
        target: `refresh with an org >= ${TARGET_ORG_RATIO * 100}% of refresh without`,
        actual: `${fmt(refresh.perSecond)}/s (p99 ${fmt(refresh.p99)} ms) vs ${fmt(plain.perSecond)}/s = ${fmt(vs * 100)}%`,
        pass: vs >= TARGET_ORG_RATIO,
      });
    }
  }

  // (c) authenticated reads: JWT verification plus the revocation check, then a user lookup.
  if (SCENARIOS.has('me')) {
    const tokens = sessions.map((s) => s.access_token);
    let nextToken = 0;
    const meRequest = {
      method: 'GET',
      path: '/v1/me',
      setupRequest: (req: object) => ({ ...req, headers: { authorization: `Bearer ${tokens[nextToken++ % tokens.length]}` } }),
    };
    const me = await cannon('me (GET /v1/me)', ME_CONNECTIONS, meRequest);
    scenarios.push({
      ...me,
      bound: 'ES256 verify',
      boundPerSecond: primitives.es256VerifyPerSecond,
      ratio: me.perSecond / primitives.es256VerifyPerSecond,
    });
  }

  // (d) personal access tokens exchanged for access tokens (RFC 8693): the PAT from the
  // in-process cache after its revocation mark, the owner's permissions in the org, one signature.
  const wantsPats = SCENARIOS.has('exchange') || SCENARIOS.has('introspect');
  const pats =
    wantsPats && orgId ? await createPats(client, emails.slice(0, PAT_COUNT), PASSWORD, orgId, ['api:manage', 'tokens:introspect']) : [];
  if (SCENARIOS.has('exchange') && pats.length) {
    let next = 0;
    const request = {
      method: 'POST',
      path: '/v1/token',
      headers: { 'content-type': 'application/json' },
      setupRequest: (req: object) => ({ ...req, body: exchangeBody(pats[next++ % pats.length]!) }),
    };
    const exchange = await cannon('PAT exchange (POST /v1/token)', PAT_CONNECTIONS, request);
    scenarios.push({
      ...exchange,
      bound: 'ES256 sign',
      boundPerSecond: primitives.es256SignPerSecond,
      ratio: exchange.perSecond / primitives.es256SignPerSecond,
    });
    targets.push({
      target: `PAT exchanges >= ${TARGET_EXCHANGE_PER_SECOND}/s`,
      actual: `${fmt(exchange.perSecond)}/s, p99 ${fmt(exchange.p99)} ms`,
      pass: exchange.perSecond >= TARGET_EXCHANGE_PER_SECOND,
    });
  }

  // (e) introspection (RFC 7662) by a service holding a tokens:introspect PAT: the same token over
  // and over (what a resource server does for each request of a session), and distinct tokens
  // (every one a signature to check).
  if (SCENARIOS.has('introspect') && pats.length) {
    const credential = { authorization: `Bearer ${pats[0]}` };
    const distinct = await mintedTokens(client, pats, INTROSPECT_DISTINCT_TOKENS);
    for (const [label, tokens] of [
      ['introspect, same token', distinct.slice(0, 1)],
      ['introspect, distinct tokens', distinct],
    ] as const) {
      let next = 0;
      const request = {
        method: 'POST',
        path: '/v1/introspect',
        headers: { 'content-type': 'application/json', ...credential },
        setupRequest: (req: object) => ({ ...req, body: JSON.stringify({ token: tokens[next++ % tokens.length] }) }),
      };
      const run = await cannon(label, INTROSPECT_CONNECTIONS, request);
      scenarios.push({
        ...run,
        bound: 'ES256 verify',
        boundPerSecond: primitives.es256VerifyPerSecond,
        ratio: run.perSecond / primitives.es256VerifyPerSecond,
      });
      targets.push({
        target: `${label}: >= ${TARGET_INTROSPECT_PER_SECOND}/s with p99 < ${TARGET_INTROSPECT_P99_MS} ms`,
        actual: `${fmt(run.perSecond)}/s, p99 ${fmt(run.p99)} ms`,
        pass: run.perSecond >= TARGET_INTROSPECT_PER_SECOND && run.p99 < TARGET_INTROSPECT_P99_MS,
      });
    }
  }

  // (c') the per-org rate limiter: GET /v1/me with tokens for an (enterprise) org, through this
  // server (limiter on: the org's counter, one INCR in Redis per request) and through a second
  // Tessera on the same database and Redis started with RATE_LIMIT_ENABLED=false, measured back
  // to back in the order off, on, on, off so that a drift of the machine weighs on both alike.
  // Twice: one worker per server (the latency a request sees; the target), then
  // BENCH_LIMITER_WORKERS (the throughput, where queueing dominates the percentiles).
  if (SCENARIOS.has('limiter') && orgId) {
    const offPort = await freePort();
    // The same issuer as the first server, so the same tokens are good on both.
    const offEnv = { ...env, PORT: String(offPort), RATE_LIMIT_ENABLED: 'false', TESSERA_PUBLIC_URL: server.url };
    log('starting a second Tessera with RATE_LIMIT_ENABLED=false');
    const off = await startTessera(ROOT, offEnv, offPort);
    killOnExit.add(off.pid);
    cleanups.push({ name: 'tessera (limiter off)', fn: () => off.stop() });
    const tokens: string[] = [];
    for (let i = 0; i < LIMITER_WORKERS; i += CORES * 2) {
      const batch = emails.slice(i, Math.min(i + CORES * 2, LIMITER_WORKERS));
      tokens.push(...(await Promise.all(batch.map((e) => loginOnce(client, e, orgId)))).map((s) => s.access_token));
    }
    // Both answer, and only the first counts (RateLimit-Limit on its answers).
    for (const [base, expected] of [
      [server.url, '1000000000'],
      [off.url, null],
    ] as const) {
      const res = await fetch(`${base}/v1/me`, { headers: { authorization: `Bearer ${tokens[0]}` } });
      if (res.status !== 200 || res.headers.get('ratelimit-limit') !== expected) {
        throw new Error(
          `limiter check on ${base}: ${res.status}, RateLimit-Limit ${res.headers.get('ratelimit-limit')} (expected ${expected})`,
        );
      }
    }
    const clients = { on: jsonClient(server.url, LIMITER_WORKERS), off: jsonClient(off.url, LIMITER_WORKERS) };
    cleanups.push({
      name: 'limiter http clients',
      fn: async () => {
        clients.on.close();
        clients.off.close();
      },
    });
    const pids = { on: server.pid, off: off.pid };
    for (const mode of ['off', 'on'] as const) await meLoop(clients[mode], tokens, 2); // warm-up: JIT, pools, sockets

    const pair = async (label: string, workers: string[]) => {
      const runs: Record<'off' | 'on', Array<Awaited<ReturnType<typeof measured>>>> = { off: [], on: [] };
      for (const mode of ['off', 'on', 'on', 'off'] as const) {
        const run = await measured(`limiter ${mode}, ${label}`, { db, pids: { ...ctx.pids, tessera: pids[mode] } }, () =>
          meLoop(clients[mode], workers, Math.max(1, SECONDS / 2)),
        );
        runs[mode].push(run);
      }
      const rows = { off: mergeRuns(`limiter off, ${label}`, runs.off), on: mergeRuns(`limiter on, ${label}`, runs.on) };
      for (const row of [rows.off, rows.on]) {
        scenarios.push({
          ...row,
          bound: 'ES256 verify',
          boundPerSecond: primitives.es256VerifyPerSecond,
          ratio: row.perSecond / primitives.es256VerifyPerSecond,
        });
      }
      return rows;
    };
    const signed = (n: number) => `${n >= 0 ? '+' : ''}${fmt(n, 2)}`;
    const single = await pair('1 worker', tokens.slice(0, 1));
    const loaded = await pair(`${LIMITER_WORKERS} workers`, tokens);
    await off.stop();
    killOnExit.delete(off.pid);

    const added = single.on.p99 - single.off.p99;
    targets.push({
      target: `the per-org rate limiter adds < ${TARGET_LIMITER_P99_ADDED_MS} ms at p99 (GET /v1/me, org tokens, one request at a time)`,
      actual: `p99 ${fmt(single.on.p99, 2)} ms on vs ${fmt(single.off.p99, 2)} ms off = ${signed(added)} ms; p50 ${signed(single.on.p50 - single.off.p50)} ms; under load (${LIMITER_WORKERS} workers) ${fmt(loaded.on.perSecond)}/s vs ${fmt(loaded.off.perSecond)}/s = ${fmt((loaded.on.perSecond / loaded.off.perSecond) * 100)}%, p99 ${signed(loaded.on.p99 - loaded.off.p99)} ms`,
      pass: added < TARGET_LIMITER_P99_ADDED_MS,
    });
  }

  // (d) the second step of a login with an authenticator app: the mfa_token, the code (sealed
  // secret, three time steps, the step compare-and-set in Postgres), then the session opens.
  if (SCENARIOS.has('totp')) {
    let next = 0;
    const step = {
      method: 'POST',
      path: '/v1/login/mfa',
      headers: { 'content-type': 'application/json' },
      // Past the parked logins the requests fail (and are counted as failures, not as results).
      setupRequest: (req: object) => ({ ...req, body: totpStepBody(totpLogins[Math.min(next++, totpLogins.length - 1)]) }),
    };
    const warm = Math.floor(totpLogins.length / 10);
    const totp = await cannon('totp (POST /v1/login/mfa)', TOTP_CONNECTIONS, step, { amount: warm });
    scenarios.push({
      ...totp,
      bound: 'ES256 sign',
      boundPerSecond: primitives.es256SignPerSecond,
      ratio: totp.perSecond / primitives.es256SignPerSecond,
    });
    targets.push({
      target: `TOTP second steps >= ${TARGET_TOTP_PER_SECOND}/s, the factor check not the limit`,
      actual: `${fmt(totp.perSecond)}/s, p99 ${fmt(totp.p99)} ms; TOTP check alone ${fmt(primitives.totpCheckPerSecond, 0)}/s`,
      pass: totp.perSecond >= TARGET_TOTP_PER_SECOND && primitives.totpCheckPerSecond > 10 * totp.perSecond,
    });
  }

  // (e) passwordless logins with a passkey: options (a challenge in Redis), then the assertion
  // (ES256 signature check, counter compare-and-set, session opened).
  if (SCENARIOS.has('passkey')) {
    const keys = await registerPasskeys(client, passkeyEmails, PASSWORD, PASSKEY_ORIGIN);
    await passkeyLoop(client, keys, 1); // warm-up
    const passkey = await measured('passkey (POST /v1/login/passkey)', ctx, () => passkeyLoop(client, keys, SECONDS));
    scenarios.push({
      ...passkey,
      bound: 'ES256 sign',
      boundPerSecond: primitives.es256SignPerSecond,
      ratio: passkey.perSecond / primitives.es256SignPerSecond,
    });
  }

  const out: string[] = [];
  out.push('');
  out.push(
    `Tessera bench: ${CORES} cores (${os.cpus()[0]?.model ?? 'unknown cpu'}), node ${process.version}, ${USERS} users, ${SECONDS} s per scenario`,
  );
  out.push(
    `argon2id m=${ARGON2.memoryCost} KiB t=${ARGON2.timeCost} p=${ARGON2.parallelism}: ${fmt(primitives.argon2MsPerVerify)} ms per verify, ${primitives.argon2InFlight} in flight`,
  );
  out.push(
    `load: login ${LOGIN_CONNECTIONS} connections (autocannon); refresh ${REFRESH_WORKERS} chained workers (node:http keep-alive); me ${ME_CONNECTIONS} connections (autocannon); exchange ${PAT_CONNECTIONS}, introspect ${INTROSPECT_CONNECTIONS} connections (autocannon); limiter 1 then ${LIMITER_WORKERS} workers per server (node:http keep-alive), off/on/on/off, ${fmt(Math.max(1, SECONDS / 2))} s each; totp ${TOTP_CONNECTIONS} connections (autocannon); passkey ${PASSKEY_WORKERS} workers, each an authenticator (node:http keep-alive)`,
  );
  out.push('');
  out.push(table(scenarios));
  out.push('');
  out.push('Targets:');
  for (const t of targets) out.push(`  ${t.pass ? 'PASS' : 'MISS'}  ${t.target}  (${t.actual})`);
  out.push('');
  out.push('Where the time went (CPU in cores during each scenario; Postgres counters per request):');
  out.push('  scenario                     tessera  postgres  redis  loadgen  other  machine   xacts/req  wal fsyncs/req  failures');
  for (const s of scenarios) {
    const c = s.cpu;
    const failures =
      Object.entries(s.failures)
        .map(([k, v]) => `${k}:${v}`)
        .join(' ') || 'none';
    out.push(
      `  ${s.name.padEnd(27)}  ${fmt(c.tessera, 2).padStart(7)}  ${fmt(c.postgres, 2).padStart(8)}  ${fmt(c.redis, 2).padStart(5)}  ${fmt(c.loadgen, 2).padStart(7)}  ${fmt(c.other, 2).padStart(5)}  ${`${fmt(c.machine, 2)}/${c.cores}`.padStart(7)}   ${fmt(s.xactsPerRequest, 2).padStart(9)}  ${fmt(s.walFsyncsPerRequest, 2).padStart(14)}  ${failures}`,
    );
  }
  const busiest = Math.max(0, ...scenarios.map((s) => s.cpu.other));
  if (busiest > 0.1 * CORES) {
    out.push(
      `WARNING: other processes used up to ${fmt(busiest, 2)} of ${CORES} cores during the run; these numbers understate Tessera. Re-run on a quiet machine.`,
    );
  }
  out.push(`(total ${((Date.now() - startedAt) / 1000).toFixed(0)} s)`);
  process.stdout.write(`${out.join('\n')}\n`);

  const resultsFile = path.join(ROOT, '.bench', 'results.json');
  await mkdir(path.dirname(resultsFile), { recursive: true });
  await writeFile(
    resultsFile,
    `${JSON.stringify(
      {
        at: new Date().toISOString(),
        machine: { cores: CORES, cpu: os.cpus()[0]?.model, node: process.version, platform: `${os.platform()} ${os.release()}` },
        server: process.env.BENCH_TSX === '1' ? 'tsx src/main.ts' : 'node dist/src/main.js',
        diagnostics: { pgSynchronousCommit: PG_SYNCHRONOUS_COMMIT ?? null, dbPoolSize: process.env.BENCH_DB_POOL_SIZE ?? null },
        parameters: {
          users: USERS,
          seconds: SECONDS,
          loginConnections: LOGIN_CONNECTIONS,
          refreshWorkers: REFRESH_WORKERS,
          meConnections: ME_CONNECTIONS,
          limiterWorkers: LIMITER_WORKERS,
          argon2: { memoryCost: ARGON2.memoryCost, timeCost: ARGON2.timeCost, parallelism: ARGON2.parallelism },
          uvThreadpoolSize: CORES,
        },
        primitives,
        scenarios,
        targets,
      },
      null,
      2,
    )}\n`,
  );
  log(`results written to ${path.relative(process.cwd(), resultsFile)}`);
  return targets.every((t) => t.pass);
}

let exitCode = 0;
try {
  await main();
} catch (err) {
  log(`failed: ${(err as Error).stack ?? err}`);
  exitCode = 1;
} finally {
  await cleanup();
}
process.exit(exitCode);
