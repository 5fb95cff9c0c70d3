import type { KeyValueStore } from '../../infra/kv/kv.js';
import { randomToken, sha256 } from '../../infra/random.js';
import type { LoginMethod } from './factor.js';

/**
 * What a password login that still needs a second factor carries to the next step. It lives in
 * the KV store, under the hash of the mfa_token (the token itself is stored nowhere), for five
 * minutes. The token is opaque and random: it is not a JWT, so no access-token, refresh or
 * exchange path can take it for one of theirs.
 */
export type PendingLogin = {
  userId: string;
  orgId: string | null;
  mode: 'token' | 'cookie';
  /** What the first step proved (RFC 8176): ["pwd"]. */
  amr: string[];
  /** 'mfa': any listed method completes it. 'enroll': only enrolling and confirming a factor does (org policy). */
  purpose: 'mfa' | 'enroll';
  methods: LoginMethod[];
  /**
   * 'enroll' only: a random id the factor set-up is bound to in place of a session id (there is
   * no session yet), so a set-up started with this token can be confirmed with this token alone.
   * It is no session's id: the confirm's "lift the confirming session to aal 2" finds no row.
   */
  enrolId?: string;
  /** Per method, what its factor carries to the second step (`SecondFactor.carry`). */
  carried?: Partial<Record<LoginMethod, unknown>>;
  /** The fingerprint of the password hash the first step checked (credential-marks.ts): a change or reset ends the login. */
  credential: string;
  createdAt: number;
};

export const MFA_TOKEN_TTL_SECONDS = 300;
export const MFA_TOKEN_MAX_FAILURES = 5;

const recordKey = (id: string) => `tessera:{mfa}:login:${id}`;
const failuresKey = (id: string) => `tessera:{mfa}:login:${id}:failures`;
const doneKey = (id: string) => `tessera:{mfa}:login:${id}:done`;
const busyKey = (id: string) => `tessera:{mfa}:login:${id}:busy`;
// Longer than any confirmation takes; a crashed one holds the attempt no longer than this.
const BUSY_SECONDS = 30;

export function createLoginAttempts(kv: KeyValueStore) {
  const idOf = (token: string) => sha256(token).toString('base64url');

  return {
    async open(pending: Omit<PendingLogin, 'createdAt'>, now: Date): Promise<string> {
      const token = randomToken();
      await kv.set(recordKey(idOf(token)), JSON.stringify({ ...pending, createdAt: now.getTime() }), MFA_TOKEN_TTL_SECONDS);
      return token;
    },

    /**
     * The pending login and its attempt id, or null when the token is unknown, expired, used up or
     * done. The age is checked against the clock as well as by the store's expiry, so the five
     * minutes hold whatever the store's own clock says.
     */
    async find(token: string, now: Date): Promise<{ id: string; pending: PendingLogin } | null> {
      if (typeof token !== 'string' || token.length === 0 || token.length > 128) return null;
      const id = idOf(token);
      const raw = await kv.get(recordKey(id));
      if (!raw) return null;
      const pending = JSON.parse(raw) as PendingLogin;
      if (!(now.getTime() - pending.createdAt < MFA_TOKEN_TTL_SECONDS * 1000)) return null;
      return { id, pending };
    },

    /**
     * Reserves one try before the proof is checked, so ten proofs sent at once still get five
     * tries between them. Returns the tries left after this one, or null when none was left
     * (the token is then dead).
     */
    async reserve(id: string): Promise<number | null> {
      const used = await kv.incr(failuresKey(id), MFA_TOKEN_TTL_SECONDS);
      if (used > MFA_TOKEN_MAX_FAILURES) {
        await kv.del(recordKey(id));
        return null;
      }
      return MFA_TOKEN_MAX_FAILURES - used;
    },

    /** Gives back a try that was reserved but not used (the account's budget refused first). */
    async release(id: string): Promise<void> {
      await kv.decr(failuresKey(id));
    },

    /** A wrong proof with no tries left ends the token at once. */
    async exhausted(id: string): Promise<void> {
      await kv.del(recordKey(id));
    },

    /**
     * Takes the attempt for completion: exactly one caller wins, however many proofs arrive at
     * once (two right codes, or a code and a key), and the token is gone afterwards.
     */
    async complete(id: string): Promise<boolean> {
      const won = await kv.setIfAbsent(doneKey(id), '1', MFA_TOKEN_TTL_SECONDS);
      if (won) await kv.del(recordKey(id));
      return won;
    },

    /**
     * Enrolment at login: one confirmation at a time per attempt (false when another holds it), so
     * that of two set-ups confirmed at once (a TOTP code and a key) only one turns a factor on;
     * `complete` still decides which one logs in. Released with `unhold`, or after 30 seconds.
     */
    async hold(id: string): Promise<boolean> {
      return kv.setIfAbsent(busyKey(id), '1', BUSY_SECONDS);
    },

    async unhold(id: string): Promise<void> {
      await kv.del(busyKey(id));
    },
  };
}

export type LoginAttempts = ReturnType<typeof createLoginAttempts>;
