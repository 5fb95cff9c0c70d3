import { randomBytes } from 'node:crypto';
import t, { type Test } from 'tap';
import type { KeyValueStore } from '../../src/infra/kv/kv.js';
import { createMemoryKv } from '../../src/infra/kv/memory.js';
import { createRedisKv } from '../../src/infra/kv/redis.js';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const redisUrl = process.env.TESSERA_TEST_REDIS_URL || '';
const randomPrefix = () => `kvc${randomBytes(4).toString('hex')}:`;

/** Resolves with the messages a handler got once `count` have arrived, or after `ms`. */
function collector() {
  const got: string[] = [];
  return {
    got,
    handler: (m: string) => {
      got.push(m);
    },
    async settle(ms = 150) {
      await sleep(ms);
      return got;
    },
  };
}

type Factory = (prefix?: string) => Promise<KeyValueStore>;

/** The behaviour every KeyValueStore must have. Each subtest gets a fresh store. */
function kvContract(t: Test, name: string, kind: 'memory' | 'redis', factory: Factory) {
  const open = async (t: Test, prefix?: string) => {
    const kv = await factory(prefix);
    t.teardown(() => kv.close());
    return kv;
  };

  t.test(`${name}: reports its kind and answers ping`, async (t) => {
    const kv = await open(t);
    t.equal(kv.kind, kind);
    t.equal(await kv.ping(), true);
  });

  t.test(`${name}: get returns what set stored, null for a missing key`, async (t) => {
    const kv = await open(t);
    t.equal(await kv.get('missing'), null);
    await kv.set('a', 'one');
    t.equal(await kv.get('a'), 'one');
    await kv.set('a', 'two');
    t.equal(await kv.get('a'), 'two', 'set overwrites');
    t.equal(await kv.ttl('a'), null, 'no ttl given: no expiry');
  });

  t.test(`${name}: a key set with a TTL expires`, async (t) => {
    const kv = await open(t);
    await kv.set('short', 'v', 1);
    await kv.set('long', 'v', 60);
    const ttl = await kv.ttl('short');
    t.ok(ttl !== null && ttl >= 0 && ttl <= 1, `ttl of the short key is at most 1 (got ${ttl})`);
    t.equal(await kv.get('short'), 'v');
    await sleep(1200);
    t.equal(await kv.get('short'), null, 'gone after its TTL');
    t.equal(await kv.exists('short'), false);
    t.equal(await kv.ttl('short'), null);
    t.equal(await kv.get('long'), 'v', 'a longer TTL is still there');
  });

  t.test(`${name}: setIfAbsent sets once, then refuses`, async (t) => {
    const kv = await open(t);
    t.equal(await kv.setIfAbsent('once', 'first', 60), true);
    t.equal(await kv.setIfAbsent('once', 'second', 60), false);
    t.equal(await kv.get('once'), 'first', 'the first value is kept');
    const ttl = await kv.ttl('once');
    t.ok(ttl !== null && ttl > 0 && ttl <= 60, `setIfAbsent sets the TTL (got ${ttl})`);
    await kv.del('once');
    t.equal(await kv.setIfAbsent('once', 'third', 60), true, 'free again after del');
  });

  t.test(`${name}: del and exists`, async (t) => {
    const kv = await open(t);
    t.equal(await kv.exists('k'), false);
    await kv.set('k', 'v');
    t.equal(await kv.exists('k'), true);
    await kv.del('k');
    t.equal(await kv.exists('k'), false);
    t.equal(await kv.get('k'), null);
    await kv.del('k');
    t.pass('deleting a missing key is fine');
  });

  t.test(`${name}: incr counts from 1 and sets the TTL only when it creates the key`, async (t) => {
    const kv = await open(t);
    t.equal(await kv.incr('n', 30), 1);
    t.equal(await kv.incr('n', 30), 2);
    t.equal(await kv.incr('n', 3000), 3);
    const ttl = await kv.ttl('n');
    t.ok(ttl !== null && ttl > 0 && ttl <= 30, `TTL stays the one given at creation (got ${ttl})`);
    t.equal(await kv.get('n'), '3');
  });

  t.test(`${name}: decr lowers an existing counter, keeps its TTL, never goes below 0 or creates a key`, async (t) => {
    const kv = await open(t);
    await kv.incr('d', 30);
    await kv.incr('d', 30);
    await kv.decr('d');
    t.equal(await kv.get('d'), '1');
    await kv.decr('d');
    await kv.decr('d');
    t.equal(await kv.get('d'), '0', 'stops at zero');
    const ttl = await kv.ttl('d');
    t.ok(ttl !== null && ttl <= 30, 'the expiry is kept');
    await kv.decr('missing');
    t.equal(await kv.get('missing'), null, 'a missing counter is not created');
  });

  t.test(`${name}: ttl is null for a missing key and for a key without expiry`, async (t) => {
    const kv = await open(t);
    t.equal(await kv.ttl('nothing'), null);
    await kv.set('forever', 'v');
    t.equal(await kv.ttl('forever'), null);
    await kv.set('later', 'v', 100);
    const ttl = await kv.ttl('later');
    t.ok(ttl !== null && ttl > 90 && ttl <= 100, `ttl near 100 (got ${ttl})`);
  });

  t.test(`${name}: publish reaches the subscribers of that channel only; unsubscribe stops it`, async (t) => {
    const kv = await open(t);
    const a1 = collector();
    const a2 = collector();
    const b = collector();
    const stopA1 = await kv.subscribe('chan-a', a1.handler);
    await kv.subscribe('chan-a', a2.handler);
    await kv.subscribe('chan-b', b.handler);
    await kv.publish('chan-a', 'hello');
    await a1.settle();
    t.same(a1.got, ['hello']);
    t.same(a2.got, ['hello'], 'every subscriber of the channel gets it');
    t.same(b.got, [], 'another channel does not');
    await stopA1();
    await kv.publish('chan-a', 'again');
    await kv.publish('chan-b', 'for-b');
    await a2.settle();
    t.same(a1.got, ['hello'], 'nothing after unsubscribe');
    t.same(a2.got, ['hello', 'again'], 'the other subscriber still receives');
    t.same(b.got, ['for-b']);
  });

  t.test(`${name}: 50 concurrent incr calls end at 50`, async (t) => {
    const kv = await open(t);
    const results = await Promise.all(Array.from({ length: 50 }, () => kv.incr('race', 60)));
    t.same(
      [...results].sort((x, y) => x - y),
      Array.from({ length: 50 }, (_, i) => i + 1),
      'each call saw a distinct value',
    );
    t.equal(await kv.get('race'), '50');
  });

  if (kind === 'redis') {
    t.test(`${name}: two prefixes do not see each other's keys or channels`, async (t) => {
      const one = await open(t, randomPrefix());
      const two = await open(t, randomPrefix());
      await one.set('shared-name', 'one');
      t.equal(await two.get('shared-name'), null);
      t.equal(await two.exists('shared-name'), false);
      t.equal(await two.incr('shared-name', 60), 1, 'a counter of the same name starts fresh');
      t.equal(await one.get('shared-name'), 'one');
      await two.del('shared-name');
      t.equal(await one.get('shared-name'), 'one', 'del on the other prefix leaves it alone');

      const seenByOne = collector();
      const seenByTwo = collector();
      await one.subscribe('news', seenByOne.handler);
      await two.subscribe('news', seenByTwo.handler);
      await one.publish('news', 'from-one');
      await seenByOne.settle();
      t.same(seenByOne.got, ['from-one'], 'a prefixed store receives its own publication');
      t.same(seenByTwo.got, [], 'the other prefix does not');
    });

    t.test(`${name}: two connections with the same prefix share keys and messages`, async (t) => {
      const prefix = randomPrefix();
      const a = await open(t, prefix);
      const b = await open(t, prefix);
      await a.set('k', 'v', 60);
      t.equal(await b.get('k'), 'v');
      const got = collector();
      await b.subscribe('rev', got.handler);
      await a.publish('rev', 'sid-1');
      await got.settle();
      t.same(got.got, ['sid-1'], 'a message published by one instance reaches the other');
    });
  }
}

kvContract(t, 'memory', 'memory', async () => createMemoryKv());

if (redisUrl) {
  kvContract(t, 'redis', 'redis', async (prefix) => createRedisKv(redisUrl, undefined, prefix ?? randomPrefix()));
} else {
  t.test('redis: KV contract', { skip: 'no redis-server' }, async () => undefined);
}
