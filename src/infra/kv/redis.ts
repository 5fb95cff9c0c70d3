import { Redis } from 'ioredis';
import type { KeyValueStore } from './kv.js';
import type { Logger } from '../logger.js';

// INCR and EXPIRE in one step, so a crash between them cannot leave a counter that never expires.
const INCR_WITH_TTL = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('EXPIRE', KEYS[1], ARGV[1]) end
return n`;

/** prefix isolates tenants of one Redis (test files share one server); it applies to channels too. */
// Only an existing counter is lowered, so its expiry stays and a missing key is not created at -1.
const DECR_EXISTING = `
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n > 0 then redis.call('DECR', KEYS[1]) end
return 0`;

export async function createRedisKv(url: string, logger?: Logger, prefix = ''): Promise<KeyValueStore> {
  const options = { lazyConnect: true, maxRetriesPerRequest: 2, enableAutoPipelining: true, keyPrefix: prefix };
  const client = new Redis(url, options);
  // A subscribed connection can run nothing else, so pub/sub gets its own.
  const subscriber = new Redis(url, { ...options, enableAutoPipelining: false });
  const handlers = new Map<string, Set<(message: string) => void>>();
  const reconnectHandlers: Array<() => void> = [];

  for (const [name, conn] of [
    ['client', client],
    ['subscriber', subscriber],
  ] as const) {
    conn.on('error', (err: Error) => logger?.warn({ err: err.message, conn: name }, 'redis error'));
  }
  subscriber.on('message', (channel: string, message: string) => {
    for (const handler of handlers.get(channel) ?? []) handler(message);
  });
  await Promise.all([client.connect(), subscriber.connect()]);
  // Registered after the first connect, so every 'ready' from here on is a reconnection.
  subscriber.on('ready', () => {
    logger?.info('redis reconnected; reloading state that may have been missed');
    for (const handler of reconnectHandlers) handler();
  });
  client.defineCommand('incrWithTtl', { numberOfKeys: 1, lua: INCR_WITH_TTL });
  client.defineCommand('decrExisting', { numberOfKeys: 1, lua: DECR_EXISTING });
  const scripts = client as unknown as {
    incrWithTtl(key: string, ttl: number): Promise<number>;
    decrExisting(key: string): Promise<number>;
  };

  return {
    kind: 'redis',
    get: (key) => client.get(key),
    async set(key, value, ttlSeconds) {
      if (ttlSeconds && ttlSeconds > 0) await client.set(key, value, 'EX', ttlSeconds);
      else await client.set(key, value);
    },
    async setIfAbsent(key, value, ttlSeconds) {
      return (await client.set(key, value, 'EX', ttlSeconds, 'NX')) === 'OK';
    },
    async del(key) {
      await client.del(key);
    },
    async exists(key) {
      return (await client.exists(key)) === 1;
    },
    async incr(key, ttlSeconds) {
      return Number(await scripts.incrWithTtl(key, ttlSeconds));
    },
    async decr(key) {
      await scripts.decrExisting(key);
    },
    async ttl(key) {
      const t = await client.ttl(key);
      return t > 0 ? t : null;
    },
    async publish(channel, message) {
      await client.publish(prefix + channel, message);
    },
    async subscribe(channel, handler) {
      channel = prefix + channel;
      let set = handlers.get(channel);
      if (!set) {
        set = new Set();
        handlers.set(channel, set);
        await subscriber.subscribe(channel);
      }
      set.add(handler);
      return async () => {
        set!.delete(handler);
        if (set!.size === 0) {
          handlers.delete(channel);
          await subscriber.unsubscribe(channel).catch(() => undefined);
        }
      };
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async ping() {
      try {
        return (await client.ping()) === 'PONG';
      } catch {
        return false;
      }
    },
    async close() {
      await Promise.allSettled([client.quit(), subscriber.quit()]);
    },
  };
}
