import type { KeyValueStore } from '../../infra/kv/kv.js';

export type FailureBudgetPolicy = { maxFailures: number; windowSeconds: number };

/**
 * Wrong second factors per account, across mfa_tokens and reauthentications. An mfa_token allows
 * five tries, but whoever holds the password can get a new token with every login: without this
 * budget, a six-digit code would fall to enough logins.
 */
export function createFailureBudget(kv: KeyValueStore, policy: FailureBudgetPolicy) {
  const key = (userId: string) => `tessera:{mfa}:failures:${userId}`;
  return {
    /** Seconds to wait when the budget is spent; null when a try is allowed. */
    async blocked(userId: string): Promise<number | null> {
      const count = Number((await kv.get(key(userId))) ?? 0);
      if (count < policy.maxFailures) return null;
      return Math.max(1, (await kv.ttl(key(userId))) ?? policy.windowSeconds);
    },
    async fail(userId: string): Promise<void> {
      await kv.incr(key(userId), policy.windowSeconds);
    },
  };
}

export type FailureBudget = ReturnType<typeof createFailureBudget>;
