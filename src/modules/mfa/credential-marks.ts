import type { KeyValueStore } from '../../infra/kv/kv.js';
import { sha256 } from '../../infra/random.js';

/** What a parked login records of the password it was opened with: a digest of the stored hash (never the hash). */
export const passwordFingerprint = (passwordHash: string): string => sha256(passwordHash).toString('base64url');

// Longer than any parked login lives (5 minutes); when the mark is gone the account row answers.
const MARK_TTL_SECONDS = 24 * 3600;

/**
 * Ends parked logins when the password changes. A login parks with the fingerprint of the hash
 * its password was checked against (read with the check, so a change committed a moment later
 * cannot slip in between); the second step completes only while that is still the account's
 * password. The authority is the account row; the KV mark (the fingerprint of the current hash,
 * written by accounts after every change, reset or deletion, and set by the first login that
 * finds none) answers the common case without a query on the hot second step.
 */
export function createCredentialMarks(kv: KeyValueStore) {
  const key = (userId: string) => `tessera:{mfa}:credential:${userId}`;
  return {
    /** At the first step: records the fingerprint unless a mark is there already (a change's mark wins). */
    async note(userId: string, fingerprint: string): Promise<void> {
      await kv.setIfAbsent(key(userId), fingerprint, MARK_TTL_SECONDS);
    },

    /**
     * Whether `fingerprint` is still the account's password. The mark answers when it agrees;
     * otherwise (no mark, or one that disagrees) the account row decides (`current`: null when
     * the account is gone).
     */
    async holds(userId: string, fingerprint: string, current: () => Promise<string | null>): Promise<boolean> {
      if ((await kv.get(key(userId))) === fingerprint) return true;
      return (await current()) === fingerprint;
    },

    /** After a committed change, reset or deletion: the mark becomes the new fingerprint (or one nothing matches). */
    async changed(userId: string, fingerprint: string | null): Promise<void> {
      await kv.set(key(userId), fingerprint ?? 'deleted', MARK_TTL_SECONDS);
    },
  };
}

export type CredentialMarks = ReturnType<typeof createCredentialMarks>;
