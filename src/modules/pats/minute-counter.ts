import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';

/**
 * One hit on a counter of the current clock minute (the key gets the minute's number), shared by
 * every instance through the KV store: the count with this hit, the seconds left in the minute
 * (a 429's Retry-After), and how to take the hit back.
 */
export async function hitThisMinute(kv: KeyValueStore, clock: Clock, key: string) {
  const now = clock.nowSeconds();
  const window = Math.floor(now / 60);
  const counter = `${key}:${window}`;
  const count = await kv.incr(counter, 60);
  return { count, retryAfter: Math.max(1, (window + 1) * 60 - now), release: () => kv.decr(counter) };
}
