import type { KeyValueStore } from '../infra/kv/kv.js';

type StoreOptions = { timeWindow?: number; routeInfo?: { url?: string; method?: string } };
type Callback = (err: Error | null, result?: { current: number; ttl: number }) => void;

/**
 * @fastify/rate-limit counting in Tessera's KV store, so limits hold across instances with Redis
 * and still work with the in-process store.
 */
export function kvRateLimitStore(kv: KeyValueStore) {
  return class KvRateLimitStore {
    constructor(private readonly options: StoreOptions = {}) {}
    incr(key: string, cb: Callback, timeWindow = Number(this.options.timeWindow ?? 60_000)) {
      const route = this.options.routeInfo ? `${this.options.routeInfo.method}:${this.options.routeInfo.url}` : 'global';
      const windowSeconds = Math.max(1, Math.ceil(timeWindow / 1000));
      const k = `tessera:{rl}:${route}:${key}`;
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
