import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { freePort } from '../src/infra/db/embedded.js';

export type Service = { url: string; pid: number; stop(): Promise<void> };

/** Waits for a child to exit, SIGKILLing it after graceMs. */
export async function stopChild(child: ChildProcess, graceMs = 5000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
  await exited;
  clearTimeout(timer);
}

/** A real redis-server on a free port, no persistence (like test/harness/services.ts, but exposing its pid). */
export async function startRedis(): Promise<Service> {
  const found = spawnSync('sh', ['-c', 'command -v redis-server'], { encoding: 'utf8' });
  if (found.status !== 0) throw new Error('redis-server is not installed (needed by npm run bench)');
  const port = await freePort();
  const child = spawn(found.stdout.trim(), ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: 'ignore',
  });
  const url = `redis://127.0.0.1:${port}`;
  const { Redis } = await import('ioredis');
  for (let i = 0; ; i++) {
    const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null });
    probe.on('error', () => undefined);
    const ok = await probe.connect().then(() => probe.ping(), () => null);
    probe.disconnect();
    if (ok === 'PONG') break;
    if (i > 100) {
      await stopChild(child);
      throw new Error('redis-server did not answer PING within 5 s');
    }
    await sleep(50);
  }
  return { url, pid: child.pid!, stop: () => stopChild(child) };
}

/** The postmaster's pid, from postmaster.pid in the data directory. */
export async function postmasterPid(dataDir: string): Promise<number | null> {
  try {
    const text = await readFile(path.join(dataDir, 'postgres', 'postmaster.pid'), 'utf8');
    return Number(text.split('\n')[0]) || null;
  } catch {
    return null;
  }
}

/**
 * Tessera as a separate process: the compiled build (node dist/src/main.js) unless
 * BENCH_TSX=1, then src/main.ts through tsx. Resolves once /readyz answers 200.
 */
export async function startTessera(root: string, env: Record<string, string>, port: number): Promise<Service & { child: ChildProcess; output(): string }> {
  const main = process.env.BENCH_TSX === '1' ? ['--import', 'tsx', 'src/main.ts'] : ['dist/src/main.js'];
  // e.g. BENCH_SERVER_NODE_ARGS="--cpu-prof --cpu-prof-dir=.bench/prof" to profile the server.
  const extra = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const args = [...extra, ...main];
  const child = spawn(process.execPath, args, { cwd: root, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 30_000;
  while (true) {
    if (child.exitCode !== null) throw new Error(`Tessera exited with ${child.exitCode} during startup:\n${output}`);
    const ready = await fetch(`${url}/readyz`).then((r) => r.status === 200, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`Tessera was not ready within 30 s:\n${output}`);
    }
    await sleep(100);
  }
  return { url, pid: child.pid!, child, output: () => output, stop: () => stopChild(child, 10_000) };
}
