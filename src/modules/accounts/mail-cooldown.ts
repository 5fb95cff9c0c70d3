import type { KeyValueStore } from '../../infra/kv/kv.js';
import { sha256 } from '../../infra/random.js';
import { normalizeEmail } from './normalize-email.js';

const HOUR_SECONDS = 3600;

/**
 * Mail that goes to an address because someone typed it (signup, resend, forgot) is counted per
 * address, so nobody can flood a mailbox through Tessera: at most `perHour` such mails an hour
 * (a fixed window from the first one). The key holds a hash of the address, never the address.
 */
export function createMailCooldown(kv: KeyValueStore, perHour: number) {
  const key = (email: string) => `tessera:{mail}:to:${sha256(normalizeEmail(email)).toString('hex').slice(0, 32)}`;
  return {
    /** Counts one mail to the address; false when the hour's allowance is spent (send nothing). */
    async admit(email: string): Promise<boolean> {
      return (await kv.incr(key(email), HOUR_SECONDS)) <= perHour;
    },
  };
}

export type MailCooldown = ReturnType<typeof createMailCooldown>;
