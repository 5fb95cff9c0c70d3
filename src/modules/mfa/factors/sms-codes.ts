import type { Clock } from '../../../infra/clock.js';
import type { KeyValueStore } from '../../../infra/kv/kv.js';
import { constantTimeEqual, hmac, randomToken } from '../../../infra/random.js';
import { mfaError } from '../errors.js';

/** A code lives ten minutes and is good for one use. */
export const SMS_CODE_TTL_SECONDS = 600;
/** Wrong codes per attempt (a login, a session's step-up, an enrolment), however many codes it asks for. */
export const SMS_MAX_FAILURES = 5;
/** The window of the failure count (and of the send limits): asking for a new code does not reset it. */
export const SMS_WINDOW_SECONDS = 3600;
const SIX_DIGITS = /^\d{6}$/;

/** What the KV store holds per attempt: never the code, its keyed hash. */
type CodeRecord = { n: string; f: string; h: string; e: number };

/**
 * expired: no live code to guess (none asked for, replaced, spent, past its ten minutes); locked:
 * the attempt's tries are all taken (or in flight), nothing was compared; wrong: a try is gone.
 */
type CheckResult = { ok: true } | { ok: false; why: 'expired' | 'locked' | 'wrong'; remaining: number };

const codeKey = (attemptId: string) => `tessera:{mfa}:sms:code:${attemptId}`;
const failuresKey = (attemptId: string) => `tessera:{mfa}:sms:failures:${attemptId}`;
const spentKey = (nonce: string) => `tessera:{mfa}:sms:spent:${nonce}`;

function parseRecord(raw: string | null): CodeRecord | null {
  if (!raw) return null;
  try {
    const r = JSON.parse(raw) as Partial<CodeRecord>;
    return typeof r.n === 'string' && typeof r.f === 'string' && typeof r.h === 'string' && typeof r.e === 'number'
      ? (r as CodeRecord)
      : null;
  } catch {
    return null;
  }
}

/**
 * The texted codes, per attempt (a login's mfa_token, a session's step-up, an enrolment): the KV
 * store keeps one live code's keyed hash, the attempt's failure count and a spent marker.
 */
export function createSmsCodes(deps: { kv: KeyValueStore; clock: Clock; secrets: Buffer[] }) {
  const { kv, clock } = deps;
  const codeSecrets = deps.secrets;
  const hashOf = (secret: Buffer, attemptId: string, record: Pick<CodeRecord, 'n' | 'f'>, code: string) =>
    hmac(secret, `${attemptId}\n${record.f}\n${record.n}\n${code}`).toString('base64url');

  return {
    /** An attempt that used up its wrong codes gets no new text until the window ends. */
    async refuseIfLocked(attemptId: string) {
      const used = Number((await kv.get(failuresKey(attemptId))) ?? 0);
      if (used < SMS_MAX_FAILURES) return;
      const wait = Math.max(1, (await kv.ttl(failuresKey(attemptId))) ?? SMS_WINDOW_SECONDS);
      throw mfaError('MFA_THROTTLED', `Too many wrong codes; try again in ${Math.ceil(wait / 60)} minutes or use another method.`, {
        retry_after: wait,
      });
    },

    /** Keeps a sent code for its attempt; the one before it (if any) is dead from now on. */
    async remember(attemptId: string, factorId: string, code: string) {
      const record: Omit<CodeRecord, 'h'> = { n: randomToken(16), f: factorId, e: clock.now().getTime() + SMS_CODE_TTL_SECONDS * 1000 };
      const h = hashOf(codeSecrets[0], attemptId, record, code);
      await kv.set(codeKey(attemptId), JSON.stringify({ ...record, h }), SMS_CODE_TTL_SECONDS);
    },

    /**
     * Checks a code for an attempt. A try is reserved before comparing, so parallel guesses share
     * the five; the fifth wrong one also kills the code. Past the five nothing is compared and so
     * nothing is counted. A right code is spent once (of two requests with it, one wins) and costs
     * no try, also when it comes second: a double submit is no guess.
     */
    async check(attemptId: string, factorId: string, code: string): Promise<CheckResult> {
      const record = parseRecord(await kv.get(codeKey(attemptId)));
      // The clock, not only the KV TTL, decides: it is the time every other check uses.
      if (!record || record.f !== factorId || clock.now().getTime() >= record.e) {
        const used = Number((await kv.get(failuresKey(attemptId))) ?? 0);
        return { ok: false, why: 'expired', remaining: Math.max(0, SMS_MAX_FAILURES - used) };
      }
      const used = await kv.incr(failuresKey(attemptId), SMS_WINDOW_SECONDS);
      if (used > SMS_MAX_FAILURES) {
        await kv.decr(failuresKey(attemptId));
        return { ok: false, why: 'locked', remaining: 0 };
      }
      const candidate = SIX_DIGITS.test(code) ? code : '';
      let match = false;
      for (const secret of codeSecrets) match = constantTimeEqual(hashOf(secret, attemptId, record, candidate), record.h) || match;
      if (match) {
        await kv.decr(failuresKey(attemptId));
        if (!(await kv.setIfAbsent(spentKey(record.n), '1', SMS_CODE_TTL_SECONDS))) {
          return { ok: false, why: 'expired', remaining: SMS_MAX_FAILURES - used + 1 };
        }
        await kv.del(codeKey(attemptId));
        return { ok: true };
      }
      if (used === SMS_MAX_FAILURES) await kv.del(codeKey(attemptId));
      return { ok: false, why: 'wrong', remaining: SMS_MAX_FAILURES - used };
    },
  };
}
