/**
 * Spawning the real server (`node --import tsx src/main.ts`) for end-to-end tests: its
 * stdout is collected as JSON log lines, and every child is killed in teardown, even on failure.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Test } from 'tap';
import { CONFIG_VARIABLES } from '../../src/config.js';
import { freePort } from '../../src/infra/net.js';
import { TEST_KEYS } from '../helpers/app.js';
import { eventually, StopPolling } from '../helpers/eventually.js';

export { TEST_KEYS };

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

// Every setting the server reads (from its config schema), and NODE_OPTIONS: none is ever
// inherited from the test runner's own environment, only what a test passes.
const SERVER_VARS: ReadonlySet<string> = new Set([...CONFIG_VARIABLES, 'NODE_OPTIONS']);

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

export type LogLine = Record<string, unknown> & { msg?: string; level?: number; reqId?: string };

export type ServerProcess = {
  child: ChildProcess;
  port: number;
  url: string;
  /** Raw stdout and stderr so far. */
  stdout(): string;
  stderr(): string;
  /** stdout parsed line by line (non-JSON lines are skipped). */
  logs(): LogLine[];
  /** Resolves with the first log line matching, waiting for it up to timeoutMs. */
  waitForLog(match: (line: LogLine) => boolean, timeoutMs?: number): Promise<LogLine>;
  /** Resolves with the exit code (or the signal name) when the process has exited. */
  exited: Promise<number | string>;
  hasExited(): boolean;
};

/** Environment for the child: the runner's minus every server setting, plus `env`. */
function childEnv(env: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (SERVER_VARS.has(k) || k.startsWith('TAP') || k.startsWith('_TAPJS')) continue;
    out[k] = v;
  }
  for (const [k, v] of Object.entries(env)) if (v !== undefined) out[k] = v;
  return out;
}

/** Starts the server; does not wait for it to be ready (see waitReady). Killed in t.teardown. */
export function spawnServer(t: Test, env: Record<string, string | undefined>, port: number): ServerProcess {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main.ts'], {
    cwd: ROOT,
    env: childEnv({ PORT: String(port), ...env }),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  const lines: LogLine[] = [];
  let partial = '';
  const waiters = new Set<() => void>();
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
    partial += chunk;
    const parts = partial.split('\n');
    partial = parts.pop()!;
    for (const part of parts) {
      try {
        lines.push(JSON.parse(part) as LogLine);
      } catch {
        // not a log line
      }
    }
    for (const w of waiters) w();
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    err += chunk;
  });
  let done = false;
  const exited = new Promise<number | string>((resolve) => {
    child.once('exit', (code, signal) => {
      done = true;
      for (const w of waiters) w();
      resolve(code ?? signal ?? 'unknown');
    });
  });
  t.teardown(async () => {
    if (done) return;
    // SIGTERM first so an embedded Postgres is stopped too; SIGKILL if it hangs.
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 8000);
    await exited;
    clearTimeout(timer);
  });

  const server: ServerProcess = {
    child,
    port,
    url: `http://127.0.0.1:${port}`,
    stdout: () => out,
    stderr: () => err,
    logs: () => lines,
    exited,
    hasExited: () => done,
    waitForLog(match, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = () => {
          const found = lines.find(match);
          if (found) finish(() => resolve(found));
          else if (done)
            finish(() => reject(new Error(`server exited before the expected log line\nstderr: ${err}\nstdout: ${out.slice(-4000)}`)));
        };
        const timer = setTimeout(
          () => finish(() => reject(new Error(`timed out waiting for a log line\nstderr: ${err}\nstdout: ${out.slice(-4000)}`))),
          timeoutMs,
        );
        const finish = (fn: () => void) => {
          clearTimeout(timer);
          waiters.delete(check);
          fn();
        };
        waiters.add(check);
        check();
      });
    },
  };
  return server;
}

/** Polls GET /readyz until 200; fails fast when the process exits. Returns the ready body. */
export async function waitReady(
  server: ServerProcess,
  timeoutMs = 30_000,
): Promise<{ status: string; checks: { postgres: boolean; kv: boolean; kv_kind: string } }> {
  return eventually(
    async () => {
      if (server.hasExited()) {
        throw new StopPolling(
          `server exited with ${await server.exited} before it was ready\nstderr: ${server.stderr()}\nstdout: ${server.stdout().slice(-4000)}`,
        );
      }
      // A refused connection (not listening yet) throws, which eventually() retries.
      const res = await fetch(`${server.url}/readyz`);
      return res.status === 200 && ((await res.json()) as never);
    },
    { timeoutMs, intervalMs: 100, message: () => `server not ready\nstderr: ${server.stderr()}\nstdout: ${server.stdout().slice(-4000)}` },
  );
}

/** The settings every e2e server on a test database and the test Redis shares. */
export function productionLikeEnv(databaseUrl: string, redisUrl: string | undefined): Record<string, string | undefined> {
  return {
    DATABASE_URL: databaseUrl,
    REDIS_URL: redisUrl,
    TESSERA_ENCRYPTION_KEYS: TEST_KEYS,
    MIGRATE_ON_START: 'true',
    ARGON2_MEMORY_KIB: '8192',
    ARGON2_ITERATIONS: '1',
    REQUIRE_EMAIL_VERIFICATION: 'false',
    // The tests read the emailed links from the log.
    MAIL_TO_LOG: 'true',
    // The shared test Redis counts public-route hits per IP (127.0.0.1) across every server of the suite.
    PUBLIC_RATE_LIMIT_PER_MINUTE: '1000',
  };
}

/** Starts a server on a free port and waits until it is ready. */
export async function startServer(t: Test, env: Record<string, string | undefined>) {
  const server = spawnServer(t, env, await freePort());
  const ready = await waitReady(server);
  return { server, ready };
}

/** Resolves with the exit code, or 'timeout' if the process is still running after timeoutMs. */
export async function exitWithin(server: ServerProcess, timeoutMs: number): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((r) => {
    timer = setTimeout(() => r('timeout'), timeoutMs);
  });
  const result = await Promise.race([server.exited, timeout]);
  clearTimeout(timer);
  return result;
}

/** JSON request helper over real HTTP. */
export async function http(
  base: string,
  method: string,
  url: string,
  { body, token, headers = {} }: { body?: unknown; token?: string; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${base}${url}`, {
    method,
    headers: {
      ...(body !== undefined ? { 'content-type': 'application/json' } : {}),
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: body !== undefined ? JSON.stringify(body) : undefined,
  });
  const text = await res.text();
  let json: any = null;
  try {
    json = text ? JSON.parse(text) : null;
  } catch {
    json = null;
  }
  return { status: res.status, headers: res.headers, text, json };
}

/** Finds the verification link of `email` in the log-mailer lines. */
export async function waitForEmailLink(server: ServerProcess, email: string, linkPath: string): Promise<{ line: LogLine; link: string }> {
  const line = await server.waitForLog((l) => {
    const mail = l.email as { to?: string; text?: string } | undefined;
    return mail?.to === email && typeof mail.text === 'string' && mail.text.includes(`/${linkPath}?token=`);
  });
  const text = (line.email as { text: string }).text;
  return { line, link: text.match(/https?:\/\/\S+/)![0] };
}

/** Command lines of running processes (Linux /proc). */
export async function processCommandLines(): Promise<Array<{ pid: number; cmdline: string }>> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: Array<{ pid: number; cmdline: string }> = [];
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const cmdline = await readFile(`/proc/${name}/cmdline`, 'utf8').catch(() => '');
    if (cmdline) out.push({ pid: Number(name), cmdline: cmdline.replace(/\0/g, ' ') });
  }
  return out;
}

/** Runs the CLI (`node --import tsx src/cli.ts ...args`) with only `env` for settings; resolves when it exits. */
export function runCli(
  args: string[],
  env: Record<string, string | undefined>,
  timeoutMs = 30_000,
): Promise<{ code: number | string; stdout: string; stderr: string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli.ts', ...args], {
    cwd: ROOT,
    env: childEnv(env),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (c: string) => (stdout += c));
  child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code: code ?? signal ?? 'unknown', stdout, stderr });
    });
  });
}
