import type { KeyValueStore } from '../../infra/kv/kv.js';

export type FailureBudgetPolicy = { maxFailures: number; windowSeconds: number };

/**
 * Wrong second factors per account, across mfa_tokens and reauthentications. An mfa_token allows
 * five tries, but whoever holds the password can get a new token with every login: without this
 * budget, a six-digit code would fall to enough logins.
 *
 * A try is taken from the budget before the proof is checked and given back when the proof was
 * right. Checking first and counting after would let a burst of guesses sent at once (spread over
 * many mfa_tokens and instances) all pass the check before the first one was counted.
 */
export function createFailureBudget(kv: KeyValueStore, policy: FailureBudgetPolicy) {
  const key = (userId: string) => `tessera:{mfa}:failures:${userId}`;
  const wait = async (userId: string) => Math.max(1, (await kv.ttl(key(userId))) ?? policy.windowSeconds);

  return {
    /** Seconds to wait when the budget is spent; null when a try would be allowed. Takes nothing (for challenges). */
    async blocked(userId: string): Promise<number | null> {
      const count = Number((await kv.get(key(userId))) ?? 0);
      return count < policy.maxFailures ? null : wait(userId);
    },

    /**
     * Takes one try before the proof is checked: null when taken, otherwise the seconds to wait.
     * The window starts with the first try taken and does not move (the counter's expiry is set
     * when it is created), so refused tries do not prolong a pause.
     */
    async take(userId: string): Promise<number | null> {
      const used = await kv.incr(key(userId), policy.windowSeconds);
      return used <= policy.maxFailures ? null : wait(userId);
    },

    /** Counts a failure that no try was taken for beforehand (the check is not the budget's to enforce). */
    async fail(userId: string): Promise<void> {
      await kv.incr(key(userId), policy.windowSeconds);
    },

    /** The proof was right (or was never checked): the try goes back. */
    async giveBack(userId: string): Promise<void> {
      await kv.decr(key(userId));
    },
  };
}

export type FailureBudget = ReturnType<typeof createFailureBudget>;
