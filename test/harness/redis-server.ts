/**
 * A throwaway redis-server for `npm test` (test/harness/run.ts) and `npm run bench`: a free
 * loopback port, no persistence, resolved once it answers PING.
 */
import { spawn, spawnSync } from 'node:child_process';
import { freePort } from '../../src/infra/net.js';
import { eventually, StopPolling } from '../helpers/eventually.js';

export type RedisServer = { url: string; pid: number; stop(): Promise<void> };

/** The redis-server on PATH, or null when none is installed. */
export function redisServerPath(): string | null {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  return found.status === 0 && found.stdout.trim() ? found.stdout.trim() : null;
}

/**
 * Starts redis-server; resolves null when it is not installed (the caller decides whether that
 * is fatal). Rejects, leaving nothing running, if it exits or does not answer PING within
 * startTimeoutMs. stop() sends SIGTERM, then SIGKILL after 5 s.
 */
export async function startRedisServer({ startTimeoutMs = 5000 } = {}): Promise<RedisServer | null> {
  const bin = redisServerPath();
  if (!bin) return null;
  const port = await freePort();
  const child = spawn(bin, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  // Kept for the error message should it fail to start; always read, so the pipe never fills.
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  let exit: string | null = null;
  const exited = new Promise<void>((resolve) => {
    child.once('exit', (code, signal) => {
      exit = signal ?? `code ${code}`;
      resolve();
    });
  });
  let spawnError: Error | null = null;
  child.once('error', (err) => {
    spawnError = err;
  });

  const stop = async () => {
    if (exit !== null) return;
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  };

  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  try {
    await eventually(
      async () => {
        if (spawnError) throw new StopPolling(`redis-server could not be started: ${spawnError.message}`);
        if (exit !== null) throw new StopPolling(`redis-server exited (${exit}) during start-up:\n${output}`);
        const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
        probe.on('error', () => undefined);
        try {
          await probe.connect();
          return (await probe.ping()) === 'PONG';
        } finally {
          probe.disconnect();
        }
      },
      { timeoutMs: startTimeoutMs, intervalMs: 50, message: () => `redis-server did not answer PING on ${url}:\n${output}` },
    );
  } catch (err) {
    await stop();
    throw err;
  }
  return { url, pid: child.pid!, stop };
}
