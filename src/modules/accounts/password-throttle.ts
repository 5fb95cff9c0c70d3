import type { Clock } from '../../infra/clock.js';
import type { KeyValueStore } from '../../infra/kv/kv.js';
import { constantTimeEqual, hmac, randomToken, sha256 } from '../../infra/random.js';
import { clientKey } from './client-key.js';
import { normalizeEmail } from './normalize-email.js';

export type ThrottlePolicy = {
  /** Failures per (account, client) and per known device before each guess needs a lock. */
  accountFreeFailures: number;
  /** Failures per client IP (IPv6: per /64), across accounts. */
  ipFreeFailures: number;
  /** Failures per account from unknown devices, across all IPs: the bound on distributed guessing. */
  accountGlobalFreeFailures: number;
  baseSeconds: number;
  maxSeconds: number;
  windowSeconds: number;
};

/** Which budget a lock belongs to. */
export type ThrottleScope = 'account_client' | 'client' | 'account' | 'device';

/** An admitted attempt: what recordSuccess and issueDeviceToken need, so they look nothing up again. */
export type Ticket = { acct: string; gen: string; ip: string; deviceId: string | null };

export type Admission =
  { allowed: true; ticket: Ticket; locksSet: Array<{ scope: ThrottleScope; seconds: number }> } | { allowed: false; retryAfter: number };

const DEVICE_TOKENS_KEPT = 5;
const DEVICE_TOKEN_LIFE_SECONDS = 365 * 24 * 3600;

/**
 * Password guesses (logins, and passwords re-entered to confirm a change), counted before the
 * password is checked, so a burst of parallel guesses is counted as a burst. Past the free
 * attempts of a budget, each further attempt must take that budget's lock (SET NX), which lasts
 * twice as long as the last up to a cap: one guess per lock period, however many arrive at once.
 *
 * The budgets are chosen so that an attacker cannot lock the owner out (OWASP "device cookies"):
 * - per (account, client IP): the owner's own IP is not the attacker's, so guessing from
 *   elsewhere does not close it;
 * - per client IP across accounts: one source spraying many accounts;
 * - per account across IPs, much larger: bounds guessing spread over many IPs. It slows every
 *   unknown client, but not a known device;
 * - a known device (one that logged into this account before and holds a signed device token)
 *   is counted on its own budget only, so the owner's browser keeps working while the account
 *   is under attack. A stolen device token is bounded by that same budget.
 * Unknown emails are counted like known ones, so a 429 says nothing about whether an account
 * exists. A password reset starts a new generation: every count, lock and device token of the
 * account is void.
 */
export function createPasswordThrottle(kv: KeyValueStore, policy: ThrottlePolicy, deviceSecrets: Buffer[], clock: Clock) {
  const account = (email: string) => sha256(normalizeEmail(email)).toString('hex').slice(0, 32);
  const generationKey = (acct: string) => `tessera:{login}:gen:${acct}`;
  const generation = async (acct: string) => (await kv.get(generationKey(acct))) ?? '0';
  const budgets = (acct: string, gen: string, ip: string, deviceId: string | null) => {
    const client = clientKey(ip);
    const all: Array<{ scope: ThrottleScope; id: string; free: number }> = deviceId
      ? [{ scope: 'device', id: `dev:${acct}:${gen}:${deviceId}`, free: policy.accountFreeFailures }]
      : [
          { scope: 'account_client', id: `acctip:${acct}:${gen}:${client}`, free: policy.accountFreeFailures },
          { scope: 'client', id: `ip:${client}`, free: policy.ipFreeFailures },
          { scope: 'account', id: `acct:${acct}:${gen}`, free: policy.accountGlobalFreeFailures },
        ];
    return all.map((b) => ({ ...b, count: `tessera:{login}:count:${b.id}`, lock: `tessera:{login}:lock:${b.id}` }));
  };
  const delay = (attempts: number, free: number) =>
    Math.min(policy.maxSeconds, policy.baseSeconds * 2 ** Math.min(30, attempts - free - 1));
  const wait = async (list: ReturnType<typeof budgets>) =>
    Math.max(0, ...(await Promise.all(list.map((b) => kv.ttl(b.lock)))).map((t) => t ?? 0));

  // A device token: "<device id>.<issued, unix s>.<hmac(account, generation, device id, issued)>".
  const sign = (secret: Buffer, acct: string, gen: string, deviceId: string, issued: string) =>
    hmac(secret, `${acct}.${gen}.${deviceId}.${issued}`).toString('base64url');
  /** The device id of the first live token that this account signed in its current generation. */
  function knownDevice(acct: string, gen: string, tokens: readonly string[]): string | null {
    for (const token of tokens.slice(0, DEVICE_TOKENS_KEPT * 2)) {
      const [deviceId, issued, sig] = token.split('.');
      if (!deviceId || !sig || deviceId.length > 64 || !/^\d{1,12}$/.test(issued ?? '')) continue;
      if (clock.nowSeconds() - Number(issued) > DEVICE_TOKEN_LIFE_SECONDS) continue;
      if (deviceSecrets.some((s) => constantTimeEqual(sign(s, acct, gen, deviceId, issued), sig))) return deviceId;
    }
    return null;
  }

  return {
    /** Counts the attempt before the password is checked; refuses it while a lock it needs is held. */
    async admit(email: string, ip: string, deviceTokens: readonly string[] = []): Promise<Admission> {
      const acct = account(email);
      const gen = await generation(acct);
      const deviceId = knownDevice(acct, gen, deviceTokens);
      const list = budgets(acct, gen, ip, deviceId);
      const locked = await wait(list);
      if (locked > 0) return { allowed: false, retryAfter: locked };
      const counts = await Promise.all(list.map((b) => kv.incr(b.count, policy.windowSeconds)));
      const over = list.map((b, i) => ({ ...b, seconds: delay(counts[i], b.free) })).filter((b, i) => counts[i] > b.free);
      const taken = await Promise.all(over.map((b) => kv.setIfAbsent(b.lock, '1', b.seconds)));
      // Another attempt took a lock first: this one waits like everyone else.
      if (!taken.every(Boolean)) return { allowed: false, retryAfter: Math.max(1, await wait(list)) };
      return { allowed: true, ticket: { acct, gen, ip, deviceId }, locksSet: over.map((b) => ({ scope: b.scope, seconds: b.seconds })) };
    },

    /**
     * The password was right: the budgets of this client (or device) start again, the IP gives
     * back this attempt. The account-wide count stays until its window ends, so an owner's login
     * does not hand an attacker a fresh budget.
     */
    async recordSuccess({ acct, gen, ip, deviceId }: Ticket) {
      const list = budgets(acct, gen, ip, deviceId);
      const own = list.filter((b) => b.scope === 'account_client' || b.scope === 'device');
      const client = list.find((b) => b.scope === 'client');
      await Promise.all([...own.flatMap((b) => [kv.del(b.count), kv.del(b.lock)]), client && kv.decr(client.count)]);
    },

    /** A token that makes this client a known device of the account (kept by the client, checked statelessly). */
    issueDeviceToken({ acct, gen, deviceId }: Ticket): string {
      const id = deviceId ?? randomToken(12);
      const issued = String(clock.nowSeconds());
      return `${id}.${issued}.${sign(deviceSecrets[0], acct, gen, id, issued)}`;
    },

    /** After a password reset: every count, lock and device token of the account is void. */
    async resetAccount(email: string) {
      const acct = account(email);
      // The reset's time in ms: never a generation seen before. The key outlives every device
      // token signed under the previous one (tokens expire after a year), so letting it lapse
      // later revives nothing.
      await kv.set(generationKey(acct), String(clock.now().getTime()), DEVICE_TOKEN_LIFE_SECONDS + 30 * 24 * 3600);
    },
  };
}

export type PasswordThrottle = ReturnType<typeof createPasswordThrottle>;
export const DEVICE_TOKENS_PER_CLIENT = DEVICE_TOKENS_KEPT;
export const DEVICE_TOKEN_MAX_AGE = DEVICE_TOKEN_LIFE_SECONDS;
