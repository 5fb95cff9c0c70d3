import type { KeyValueStore } from '../../infra/kv/kv.js';
import { sha256 } from '../../infra/random.js';
import { normalizeEmail } from './normalize-email.js';

export type ThrottlePolicy = {
  accountFreeFailures: number;
  ipFreeFailures: number;
  baseSeconds: number;
  maxSeconds: number;
  windowSeconds: number;
};

/**
 * Password guesses (logins, and passwords re-entered to confirm a change), counted per account and per IP before the password is checked, so that
 * a burst of parallel guesses is counted as a burst. Past the free attempts, each further one
 * must take a lock (SET NX) that lasts twice as long as the last, up to a cap: one guess per
 * lock period, however many arrive at once. Counts expire with their window, so an attacker can
 * slow a real user down but never lock them out for good. Unknown emails are counted like known
 * ones, so a 429 says nothing about whether an account exists.
 */
export function createPasswordThrottle(kv: KeyValueStore, policy: ThrottlePolicy) {
  const account = (email: string) => sha256(normalizeEmail(email)).toString('hex').slice(0, 32);
  const keys = (email: string, ip: string) => ({
    acctCount: `tessera:{login}:count:acct:${account(email)}`,
    acctLock: `tessera:{login}:lock:acct:${account(email)}`,
    ipCount: `tessera:{login}:count:ip:${ip}`,
    ipLock: `tessera:{login}:lock:ip:${ip}`,
  });
  const delay = (attempts: number, free: number) =>
    Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.min(30, attempts - free - 1));

  async function wait(k: ReturnType<typeof keys>) {
    const [a, i] = await Promise.all([kv.ttl(k.acctLock), kv.ttl(k.ipLock)]);
    return Math.max(a ?? 0, i ?? 0);
  }

  return {
    /** Counts the attempt; returns 0 when it may go ahead, else the seconds to wait. */
    async admit(email: string, ip: string): Promise<number> {
      const k = keys(email, ip);
      const locked = await wait(k);
      if (locked > 0) return locked;
      const [a, i] = await Promise.all([kv.incr(k.acctCount, policy.windowSeconds), kv.incr(k.ipCount, policy.windowSeconds)]);
      const gates = [
        a > policy.accountFreeFailures ? kv.setIfAbsent(k.acctLock, '1', delay(a, policy.accountFreeFailures)) : true,
        i > policy.ipFreeFailures ? kv.setIfAbsent(k.ipLock, '1', delay(i, policy.ipFreeFailures)) : true,
      ];
      if ((await Promise.all(gates)).every(Boolean)) return 0;
      // Another attempt took the lock first: this one waits like everyone else.
      return Math.max(1, await wait(k));
    },
    /** A success clears the account's count and lock; the IP keeps its lock but not this attempt. */
    async recordSuccess(email: string, ip: string) {
      const k = keys(email, ip);
      await Promise.all([kv.del(k.acctCount), kv.del(k.acctLock), kv.decr(k.ipCount)]);
    },
  };
}

export type PasswordThrottle = ReturnType<typeof createPasswordThrottle>;
