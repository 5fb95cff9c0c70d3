import type { KeyValueStore } from '../../infra/kv/kv.js';
import { randomToken } from '../../infra/random.js';

// Longer than any parked login lives (5 minutes): an expired mark reads as "never changed",
// which a login parked under a mark no longer matches.
const MARK_TTL_SECONDS = 24 * 3600;

/**
 * A mark per account that changes whenever its password does (change, reset, deletion): a
 * login parked at the first step records it, and the second step completes only if it is still
 * the same, so a password changed in between ends the pending login. A KV read instead of the
 * account's row keeps the hot second step off Postgres; and the parked logins live in the same
 * store, so losing it loses both together.
 */
export function createCredentialGenerations(kv: KeyValueStore) {
  const key = (userId: string) => `tessera:{mfa}:credential:${userId}`;
  return {
    async current(userId: string): Promise<string> {
      return (await kv.get(key(userId))) ?? 'initial';
    },
    /** A new random mark (not a counter: one that expired and restarted could repeat an old value). */
    async bump(userId: string): Promise<void> {
      await kv.set(key(userId), randomToken(12), MARK_TTL_SECONDS);
    },
  };
}

export type CredentialGenerations = ReturnType<typeof createCredentialGenerations>;
