import type { KeyValueStore } from '../../infra/kv/kv.js';
import { sha256 } from '../../infra/random.js';
import { normalizeEmail } from '../accounts/normalize-email.js';

export type ThrottlePolicy = {
  accountFreeFailures: number;
  ipFreeFailures: number;
  baseSeconds: number;
  maxSeconds: number;
  windowSeconds: number;
};

/**
 * Failed logins, counted per account and per IP. Past the free failures each further failure
 * doubles the wait, up to a cap, and the count expires with its window: an attacker can slow
 * a real user down, never lock them out for good. Unknown emails are counted like known ones,
 * so a 429 says nothing about whether an account exists.
 */
export function createLoginThrottle(kv: KeyValueStore, policy: ThrottlePolicy) {
  const account = (email: string) => sha256(normalizeEmail(email)).toString('hex').slice(0, 32);
  const keys = (email: string, ip: string) => ({
    acctFails: `tessera:{login}:fails:acct:${account(email)}`,
    acctLock: `tessera:{login}:lock:acct:${account(email)}`,
    ipFails: `tessera:{login}:fails:ip:${ip}`,
    ipLock: `tessera:{login}:lock:ip:${ip}`,
  });
  const delay = (failures: number, free: number) =>
    failures <= free ? 0 : Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.min(30, failures - free - 1));

  return {
    /** Seconds to wait before another attempt is allowed; 0 when it may go ahead. */
    async retryAfter(email: string, ip: string): Promise<number> {
      const k = keys(email, ip);
      const [a, i] = await Promise.all([kv.ttl(k.acctLock), kv.ttl(k.ipLock)]);
      return Math.max(a ?? 0, i ?? 0);
    },
    async recordFailure(email: string, ip: string) {
      const k = keys(email, ip);
      const [a, i] = await Promise.all([kv.incr(k.acctFails, policy.windowSeconds), kv.incr(k.ipFails, policy.windowSeconds)]);
      const waitAccount = delay(a, policy.accountFreeFailures);
      const waitIp = delay(i, policy.ipFreeFailures);
      await Promise.all([
        waitAccount ? kv.set(k.acctLock, '1', waitAccount) : undefined,
        waitIp ? kv.set(k.ipLock, '1', waitIp) : undefined,
      ]);
    },
    async recordSuccess(email: string, ip: string) {
      const k = keys(email, ip);
      await Promise.all([kv.del(k.acctFails), kv.del(k.acctLock)]);
    },
  };
}

export type LoginThrottle = ReturnType<typeof createLoginThrottle>;
