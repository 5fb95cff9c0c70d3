import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { requestError } from '../../shared/common-errors.js';

const key = (ip: string, window: number) => `tessera:{pat}:miss:${ip}:${window}`;

/**
 * Secrets with a valid checksum that match no token. The checksum is public (CRC32), so anyone can
 * make such secrets, and each costs a Postgres lookup: per client address, at most `perMinute`
 * misses a minute, past which lookups are refused (429 RATE_LIMITED) before the database. A known
 * token is served from memory and never asks; a client with a working token never misses.
 */
export function createLookupThrottle({ kv, clock, perMinute }: { kv: KeyValueStore; clock: Clock; perMinute: number }) {
  const window = () => Math.floor(clock.nowSeconds() / 60);
  return {
    async assertAllowed(ip: string) {
      const now = clock.nowSeconds();
      const misses = Number((await kv.get(key(ip, window()))) ?? 0);
      if (misses < perMinute) return;
      throw requestError('RATE_LIMITED', `Too many unknown tokens from this address: retry after the time in Retry-After.`, {
        retry_after: Math.max(1, (window() + 1) * 60 - now),
      });
    },
    async missed(ip: string) {
      await kv.incr(key(ip, window()), 60);
    },
  };
}
