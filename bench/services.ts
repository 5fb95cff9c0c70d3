import { spawn, type ChildProcess } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

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
export async function startTessera(
  root: string,
  env: Record<string, string>,
  port: number,
): Promise<Service & { child: ChildProcess; output(): string }> {
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
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ready) break;
    if (Date.now() > deadline) {
      await stopChild(child);
      throw new Error(`Tessera was not ready within 30 s:\n${output}`);
    }
    await sleep(100);
  }
  return { url, pid: child.pid!, child, output: () => output, stop: () => stopChild(child, 10_000) };
}
