import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { requestError } from '../../shared/common-errors.js';
import { hitThisMinute } from './minute-counter.js';

const key = (ip: string) => `tessera:{pat}:miss:${ip}`;
/** Unknown hashes this instance remembers, and for how long: a script retrying a dead token costs one lookup, not one a try. */
const UNKNOWN_TTL_MS = 5 * 60_000;
const UNKNOWN_MAX = 10_000;

/**
 * Secrets with a valid checksum that match no token. The checksum is public (CRC32), so anyone can
 * make such secrets, and each costs a Postgres lookup: per client address, at most `perMinute`
 * lookups of unknown secrets a minute, past which lookups are refused (429 RATE_LIMITED) before
 * the database. A lookup reserves its slot first (so a burst cannot all pass the check at once)
 * and gives it back when the token exists. The same unknown secret again is answered from memory
 * (a token deleted with its account, retried by a forgotten cron job, locks nobody out), and a
 * token the instance already holds never asks.
 */
export function createLookupThrottle({ kv, clock, perMinute }: { kv: KeyValueStore; clock: Clock; perMinute: number }) {
  const unknown = new Map<string, number>();
  return {
    /** Whether this instance looked the hash up lately and found nothing. */
    knownUnknown(hash: string): boolean {
      const at = unknown.get(hash);
      if (at === undefined) return false;
      if (clock.now().getTime() - at < UNKNOWN_TTL_MS) return true;
      unknown.delete(hash);
      return false;
    },

    /** Reserves a lookup for the address; throws 429 past the budget. Returns the release for a lookup that found its token. */
    async reserve(ip: string): Promise<() => Promise<void>> {
      const hit = await hitThisMinute(kv, clock, key(ip));
      if (hit.count > perMinute) {
        throw requestError('RATE_LIMITED', 'Too many unknown tokens from this address: retry after the time in Retry-After.', {
          retry_after: hit.retryAfter,
        });
      }
      return hit.release;
    },

    /** The lookup found nothing: remember the hash for a while. */
    missed(hash: string) {
      if (unknown.size >= UNKNOWN_MAX) unknown.delete(unknown.keys().next().value!);
      unknown.set(hash, clock.now().getTime());
    },
  };
}
