import { EventEmitter } from 'node:events';
import type { KeyValueStore } from './kv.js';
import type { Clock } from '../clock.js';
import { systemClock } from '../clock.js';

type Entry = { value: string; expiresAt: number | null };

/** Correct for a single instance only: nothing here is seen by another process. */
export function createMemoryKv(clock: Clock = systemClock): KeyValueStore {
  const data = new Map<string, Entry>();
  const bus = new EventEmitter();
  bus.setMaxListeners(0);
  let sweeps = 0;

  const live = (key: string): Entry | null => {
    const entry = data.get(key);
    if (!entry) return null;
    if (entry.expiresAt !== null && entry.expiresAt <= clock.now().getTime()) {
      data.delete(key);
      return null;
    }
    return entry;
  };
  const expiry = (ttlSeconds?: number) => (ttlSeconds && ttlSeconds > 0 ? clock.now().getTime() + ttlSeconds * 1000 : null);
  // Expired keys nobody reads again would pile up; sweep now and then instead of on a timer.
  const maybeSweep = () => {
    if (++sweeps % 1000 !== 0) return;
    for (const key of data.keys()) live(key);
  };

  return {
    kind: 'memory',
    async get(key) {
      return live(key)?.value ?? null;
    },
    async set(key, value, ttlSeconds) {
      maybeSweep();
      data.set(key, { value, expiresAt: expiry(ttlSeconds) });
    },
    async setIfAbsent(key, value, ttlSeconds) {
      if (live(key)) return false;
      maybeSweep();
      data.set(key, { value, expiresAt: expiry(ttlSeconds) });
      return true;
    },
    async del(key) {
      data.delete(key);
    },
    async exists(key) {
      return live(key) !== null;
    },
    async incr(key, ttlSeconds) {
      const entry = live(key);
      if (!entry) {
        maybeSweep();
        data.set(key, { value: '1', expiresAt: expiry(ttlSeconds) });
        return 1;
      }
      const next = Number(entry.value) + 1;
      entry.value = String(next);
      return next;
    },
    async decr(key) {
      const entry = live(key);
      if (entry) entry.value = String(Math.max(0, Number(entry.value) - 1));
    },
    async ttl(key) {
      const entry = live(key);
      if (!entry || entry.expiresAt === null) return null;
      return Math.max(1, Math.ceil((entry.expiresAt - clock.now().getTime()) / 1000));
    },
    async publish(channel, message) {
      // Delivered on a later tick, as Redis would: a publisher never runs subscribers inline.
      setImmediate(() => bus.emit(channel, message));
    },
    async subscribe(channel, handler) {
      bus.on(channel, handler);
      return async () => {
        bus.off(channel, handler);
      };
    },
    onReconnect() {
      // An in-process store never disconnects.
    },
    async ping() {
      return true;
    },
    async close() {
      data.clear();
      bus.removeAllListeners();
    },
  };
}
