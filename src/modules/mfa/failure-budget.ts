import type { KeyValueStore } from '../../infra/kv/kv.js';

export type FailureBudgetPolicy = {
  /** Wrong second factors per window before a pause (MFA_THROTTLED). */
  maxFailures: number;
  windowSeconds: number;
  /** Wrong second factors in a row, across windows, before the second step locks (MFA_LOCKED). */
  lockAfter: number;
};

/**
 * How long a streak of wrong second factors is remembered (from its first failure) and how long
 * a lock lasts (from when it engaged) unless a right factor or a new password ends it first.
 * Long enough that waiting buys an attacker at most `lockAfter` guesses a month; not forever, so
 * keys of abandoned accounts go away.
 */
export const STREAK_SECONDS = 30 * 86_400;

/** Why a try was refused unchecked. `engaged`: this call found the lock new (tell the owner). */
export type Refusal = { locked: true; engaged: boolean } | { locked: false; wait: number };

/** A try taken (`streak`: the wrong factors in a row this one would make), or why not. */
export type Taken = { ok: true; streak: number } | ({ ok: false } & Refusal);

/**
 * Wrong second factors per account, across mfa_tokens and reauthentications, counted twice:
 *
 * - per window: `maxFailures` per `windowSeconds`, then a pause. An mfa_token allows five tries,
 *   but whoever holds the password gets a new token with every login (and a stolen session may
 *   reauthenticate at will): without this, a six-digit code would fall to enough logins.
 * - in a row: the window starts over, so it only slows guessing (20 per 15 minutes is still
 *   ~1,900 a day). At `lockAfter` wrong factors with no right one between them (NIST SP
 *   800-63B 5.2.2: at most 100), the second step locks until the owner proves a right factor
 *   or sets a new password (`reset`, on a password change or reset).
 *
 * A try is taken from both before the proof is checked, so a burst of guesses sent at once
 * (spread over many mfa_tokens and instances) cannot all pass the check before the first one is
 * counted; it is given back when the proof was right or never checked.
 */
export function createFailureBudget(kv: KeyValueStore, policy: FailureBudgetPolicy) {
  const windowKey = (userId: string) => `tessera:{mfa}:failures:${userId}`;
  const streakKey = (userId: string) => `tessera:{mfa}:streak:${userId}`;
  // Set once when the lock engages: it outlives the streak (whose expiry runs from its first
  // failure), and setting it only if absent is what makes the owner hear of a lock once.
  const lockKey = (userId: string) => `tessera:{mfa}:locked:${userId}`;
  const wait = async (userId: string) => Math.max(1, (await kv.ttl(windowKey(userId))) ?? policy.windowSeconds);
  const engage = (userId: string) => kv.setIfAbsent(lockKey(userId), '1', STREAK_SECONDS);
  const release = async (userId: string) => {
    await Promise.all([kv.decr(windowKey(userId)), kv.decr(streakKey(userId))]);
  };

  return {
    /** Wrong factors in a row that lock the second step. */
    lockAfter: policy.lockAfter,

    /** Before a challenge (a text sent, options issued): why a try would be refused, or null. Takes nothing. */
    async blocked(userId: string): Promise<Refusal | null> {
      const [used, streak, locked] = await Promise.all([kv.get(windowKey(userId)), kv.get(streakKey(userId)), kv.exists(lockKey(userId))]);
      if (locked) return { locked: true, engaged: false };
      // A streak at the lock whose last failure has not engaged it yet (or never will: its check threw).
      if (Number(streak ?? 0) >= policy.lockAfter) return { locked: true, engaged: await engage(userId) };
      return Number(used ?? 0) < policy.maxFailures ? null : { locked: false, wait: await wait(userId) };
    },

    /**
     * Takes one try before the proof is checked. The window starts with its first try and does
     * not move (a counter's expiry is set when it is created), so refused tries do not prolong a
     * pause. Tries past the lock are refused however the window stands.
     */
    async take(userId: string): Promise<Taken> {
      // Issued together: the KV client pipelines them into one round trip.
      const [used, streak, locked] = await Promise.all([
        kv.incr(windowKey(userId), policy.windowSeconds),
        kv.incr(streakKey(userId), STREAK_SECONDS),
        kv.exists(lockKey(userId)),
      ]);
      if (locked || streak > policy.lockAfter) {
        // Nothing is checked while locked: the tries go back, so that hammering a lock does not
        // leave the owner paused once a new password has ended it.
        const [engaged] = await Promise.all([locked ? false : engage(userId), release(userId)]);
        return { ok: false, locked: true, engaged };
      }
      if (used > policy.maxFailures) {
        // Paused, not checked: not a wrong factor, so not one in a row either.
        await kv.decr(streakKey(userId));
        return { ok: false, locked: false, wait: await wait(userId) };
      }
      return { ok: true, streak };
    },

    /**
     * The proof of a try taken was wrong: both counts keep it. True when this failure is the one
     * that reaches the lock (the caller tells the owner), false otherwise.
     */
    async wrong(userId: string, streak: number): Promise<boolean> {
      return streak >= policy.lockAfter ? engage(userId) : false;
    },

    /** The proof was right: its try goes back to the window, and the streak (and any lock) ends. */
    async right(userId: string): Promise<void> {
      await Promise.all([kv.decr(windowKey(userId)), kv.del(streakKey(userId)), kv.del(lockKey(userId))]);
    },

    /** The try was never checked (the mfa_token refused it): it goes back to both counts. */
    release,

    /**
     * The password was changed or reset: the streak and the lock end (the way out of a lock the
     * owner is told to take). The window is left to run out: it is only a pause.
     */
    async reset(userId: string): Promise<void> {
      await Promise.all([kv.del(streakKey(userId)), kv.del(lockKey(userId))]);
    },
  };
}

export type FailureBudget = ReturnType<typeof createFailureBudget>;
