import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

// Linux only: per-process CPU from /proc/<pid>/stat. Elsewhere every figure reads 0.
const TICKS_PER_SECOND = 100;

type Proc = { pid: number; ppid: number; ticks: number };

function readProc(pid: number): Proc | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, ppid: Number(fields[1]), ticks: Number(fields[11]) + Number(fields[12]) };
  } catch {
    return null;
  }
}

function allProcs(): Proc[] {
  let names: string[] = [];
  try {
    names = readdirSync('/proc');
  } catch {
    return [];
  }
  return names
    .filter((n) => /^\d+$/.test(n))
    .map((n) => readProc(Number(n)))
    .filter((p): p is Proc => p !== null);
}

function machineBusyTicks(): { busy: number; total: number } {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = cpu[3] + (cpu[4] ?? 0);
    const total = cpu.slice(0, 8).reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return { busy: 0, total: 0 };
  }
}

export type Groups = { tessera: number; postgres: number; redis: number; loadgen: number };
export type CpuUsage = Groups & { other: number; machine: number; cores: number };

/**
 * Samples CPU by component: Tessera (its pid), Postgres (the postmaster and every backend it
 * forked), Redis and the load generator (this process). Figures are in cores (1.0 = one core
 * busy for the whole window); `other` is whatever else ran on the machine meanwhile.
 */
export function cpuSampler(pids: { tessera: number; postmaster: number | null; redis: number; loadgen?: number }) {
  const classify = (p: Proc): keyof Groups | null => {
    if (p.pid === pids.tessera) return 'tessera';
    if (p.pid === pids.redis) return 'redis';
    if (p.pid === (pids.loadgen ?? process.pid)) return 'loadgen';
    if (pids.postmaster && (p.pid === pids.postmaster || p.ppid === pids.postmaster)) return 'postgres';
    return null;
  };
  const snapshot = () => {
    const byPid = new Map<number, { group: keyof Groups; ticks: number }>();
    for (const p of allProcs()) {
      const group = classify(p);
      if (group) byPid.set(p.pid, { group, ticks: p.ticks });
    }
    return { at: performance.now(), byPid, machine: machineBusyTicks() };
  };
  const start = snapshot();
  return {
    stop(): CpuUsage {
      const end = snapshot();
      const seconds = (end.at - start.at) / 1000;
      const used: Groups = { tessera: 0, postgres: 0, redis: 0, loadgen: 0 };
      for (const [pid, now] of end.byPid) used[now.group] += now.ticks - (start.byPid.get(pid)?.ticks ?? 0);
      const cores = os.availableParallelism();
      const toCores = (ticks: number) => Math.round((ticks / TICKS_PER_SECOND / seconds) * 100) / 100;
      const machineBusy = end.machine.busy - start.machine.busy;
      const machineTotal = end.machine.total - start.machine.total;
      const machine = machineTotal > 0 ? Math.round((machineBusy / machineTotal) * cores * 100) / 100 : 0;
      const ours = used.tessera + used.postgres + used.redis + used.loadgen;
      return {
        tessera: toCores(used.tessera),
        postgres: toCores(used.postgres),
        redis: toCores(used.redis),
        loadgen: toCores(used.loadgen),
        other: Math.max(0, Math.round((machine - toCores(ours)) * 100) / 100),
        machine,
        cores,
      };
    },
  };
}
