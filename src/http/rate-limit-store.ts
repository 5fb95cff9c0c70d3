import type { KeyValueStore } from '../infra/kv/kv.js';
import { systemClock, type Clock } from '../infra/clock.js';

type StoreOptions = { timeWindow?: number; routeInfo?: { url?: string; method?: string } };
type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * @fastify/rate-limit counting in Tessera's KV store, so limits hold across instances with Redis
 * and still work with the in-process store.
 *
 * Two kinds of counter, by what the plugin tells the store about the route:
 * - a route's own limit (`config: { rateLimit }`, the per-IP limit of public endpoints): the
 *   plugin gives the route (`routeInfo.url`), the counter is per route and key, and its window
 *   starts with its first hit (INCR, then TTL for the reset);
 * - a limiter built with `fastify.createRateLimit()` / `fastify.rateLimit()` (the per-org limit
 *   of authenticated requests): the plugin gives no route, so the counter is per key only, one
 *   budget across every route. Its windows are fixed (aligned to multiples of the window on the
 *   clock) and numbered in the key, so the reset is known without asking: one round trip.
 */
export function kvRateLimitStore(kv: KeyValueStore, clock: Clock = systemClock) {
  /** One counter per key and window number; it expires (a second late, for clock skew) once its window is over. */
  function incrFixedWindow(key: string, cb: Callback, timeWindow: number) {
    const windowMs = Math.max(1000, Math.trunc(timeWindow));
    const now = clock.now().getTime();
    const window = Math.floor(now / windowMs);
    const ttl = (window + 1) * windowMs - now;
    kv.incr(`tessera:{rl}:any:${key}:${window}`, Math.ceil(ttl / 1000) + 1).then(
      (current) => cb(null, { current, ttl }),
      (err: Error) => cb(err),
    );
  }

  return class KvRateLimitStore {
    constructor(private readonly options: StoreOptions = {}) {}
    incr(key: string, cb: Callback, timeWindow = Number(this.options.timeWindow ?? 60_000)) {
      const route = this.options.routeInfo?.url;
      if (route === undefined) return incrFixedWindow(key, cb, timeWindow);
      const windowSeconds = Math.max(1, Math.ceil(timeWindow / 1000));
      const k = `tessera:{rl}:${this.options.routeInfo?.method}:${route}:${key}`;
      kv.incr(k, windowSeconds)
        .then(async (current) => cb(null, { current, ttl: ((await kv.ttl(k)) ?? windowSeconds) * 1000 }))
        .catch((err: Error) => cb(err));
    }
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- the plugin passes its whole route options
    child(routeOptions: any) {
      return new KvRateLimitStore({ ...this.options, ...(routeOptions as StoreOptions) });
    }
  };
}
