import { randomInt, randomUUID } from 'node:crypto';
import { hmac } from '../../../infra/random.js';
import { maskPhone, parseMobileNumber, SmsDeliveryError, type SmsSender } from '../../../infra/sms/index.js';
import { authError } from '../../../shared/common-errors.js';
import { defineErrors } from '../../../shared/errors.js';
import type { AuditContext } from '../../audit/index.js';
import { mfaError } from '../errors.js';
import type { Attempt, SecondFactor } from '../factor.js';
import type { EnableOptions } from '../lifecycle.js';
import type { FactorRow, NewFactor } from '../store.js';
import type { FactorDeps } from './deps.js';
import { createSmsCodes, SMS_CODE_TTL_SECONDS, SMS_WINDOW_SECONDS } from './sms-codes.js';

export const smsError = defineErrors({
  // Not a phone number, not in international form, or an extension.
  PHONE_INVALID: [400, 'Invalid phone number'],
  // A valid number that cannot receive texts (landline, toll-free, premium-rate, VoIP).
  PHONE_NOT_MOBILE: [400, 'Not a mobile number'],
} as const);

export type SmsSettings = {
  /** null: no SMS_URL and no SMS_TO_LOG; enrolment answers SMS_NOT_CONFIGURED and login does not offer SMS. */
  sender: SmsSender | null;
  perUserPerHour: number;
  perNumberPerHour: number;
  /** Who the text says it is from ("123456 is your Tessera sign-in code"). */
  brand: string;
  /**
   * The frontend's host, for the origin-bound last line (`@app.example.com #123456`): browsers and
   * phones then offer to fill the code in on that site only, not on a look-alike.
   */
  appHost?: string;
};

type Purpose = Attempt['purpose'] | 'enrol';

const aadOf = (factorId: string) => `mfa_factor:${factorId}`;
// An enrolment's code is for the session that started it (the one that passed step-up) only:
// the session is part of the attempt, so of the code's hash and of its failure count.
const enrolAttempt = (factorId: string, sessionId: string) => `enrol:${factorId}:${sessionId}`;
const userSendsKey = (userId: string) => `tessera:{mfa}:sms:sent:user:${userId}`;
const numberSendsKey = (numberId: string) => `tessera:{mfa}:sms:sent:number:${numberId}`;

/** What the user types, however they type it: spaces and hyphens do not matter. */
const normalize = (code: string | undefined) => (code ?? '').replace(/[\s-]/g, '');

const PURPOSE_TEXT: Record<Purpose, string> = {
  login: 'sign-in code',
  reauthenticate: 'code to confirm it is you',
  enrol: 'code to add this phone to your account',
};

const FAILURE_TEXT: Record<SmsDeliveryError['reason'], string> = {
  invalid_recipient: 'The text could not be delivered: the provider says this number cannot receive text messages.',
  throttled: 'The text message service is busy; try again in a moment.',
  unavailable: 'The text message service is not answering; try again in a moment.',
  rejected: 'The text message could not be sent; try again later or use another method.',
  provider_auth: 'The text message could not be sent; try again later or use another method.',
};

const pgCode = (err: unknown) => (err && typeof err === 'object' && 'code' in err ? String(err.code) : undefined);

/**
 * Text-message codes. The number is sealed under the keyring (the row id as AAD) and shown only
 * masked (`+1 ••• ••• 2671`, also the row's name). A code is six digits from `randomInt`, lives ten
 * minutes, is kept in the KV store as an HMAC (a keyring-derived key) under the attempt that asked
 * for it (a login's mfa_token, a session's step-up, an enrolment), so it works for that attempt
 * only, and is spent atomically on first use. Asking again replaces the code but not the attempt's
 * failure count; sends are limited per account and per number (a pumping or harassment guard).
 */
export function createSmsFactor(deps: FactorDeps & { sms: SmsSettings }) {
  const { store, lifecycle, kv, keyring, audit, clock, logger } = deps;
  const { sender } = deps.sms;
  const codes = createSmsCodes({ kv, clock, secrets: keyring.deriveSecrets('tessera/sms-codes/v1') });
  // Per-number send counts are keyed by a keyed hash: the KV store never holds a number.
  const [numberSecret] = keyring.deriveSecrets('tessera/sms-numbers/v1');

  function textFor(purpose: Purpose, code: string): string {
    const text = `${code} is your ${deps.sms.brand} ${PURPOSE_TEXT[purpose]}. It expires in 10 minutes. Do not share it.`;
    return deps.sms.appHost ? `${text}\n\n@${deps.sms.appHost} #${code}` : text;
  }

  function notConfigured() {
    return mfaError('SMS_NOT_CONFIGURED', 'Text messages are not set up on this server; use another method.');
  }

  /**
   * Counts one send against the account and the number, or refuses with the wait. Returns the
   * refund for a send the provider did not take (a refused send costs nobody anything).
   */
  async function reserveSend(userId: string, e164: string): Promise<() => Promise<void>> {
    const userKey = userSendsKey(userId);
    const numberKey = numberSendsKey(hmac(numberSecret, e164).toString('base64url'));
    const limited = async (key: string, detail: string) => {
      const wait = Math.max(1, (await kv.ttl(key)) ?? SMS_WINDOW_SECONDS);
      return mfaError('SMS_RATE_LIMITED', `${detail} Try again in ${Math.ceil(wait / 60)} minutes.`, { retry_after: wait });
    };
    if ((await kv.incr(userKey, SMS_WINDOW_SECONDS)) > deps.sms.perUserPerHour) {
      await kv.decr(userKey);
      throw await limited(userKey, 'Too many text messages for this account.');
    }
    if ((await kv.incr(numberKey, SMS_WINDOW_SECONDS)) > deps.sms.perNumberPerHour) {
      await Promise.all([kv.decr(numberKey), kv.decr(userKey)]);
      throw await limited(numberKey, 'Too many text messages to this number.');
    }
    return async () => {
      await Promise.all([kv.decr(userKey), kv.decr(numberKey)]);
    };
  }

  /**
   * Texts a new code. Nothing is stored here: the caller keeps the code only once the provider
   * took it, so a failed send leaves the previous code (and enrolment) exactly as it was.
   */
  async function deliver(input: {
    userId: string;
    factorId: string;
    e164: string;
    purpose: Purpose;
    context: AuditContext;
  }): Promise<string> {
    if (!sender) throw notConfigured();
    const refund = await reserveSend(input.userId, input.e164);
    const code = String(randomInt(0, 1_000_000)).padStart(6, '0');
    const masked = maskPhone(input.e164);
    try {
      await sender.send({ to: input.e164, body: textFor(input.purpose, code) });
    } catch (err) {
      await refund();
      const reason = err instanceof SmsDeliveryError ? err.reason : 'unavailable';
      // The reason and the provider's numbers only: an error's message may repeat the number.
      const fields =
        err instanceof SmsDeliveryError
          ? { reason, status: err.status, provider_code: err.providerCode }
          : { reason, error: err instanceof Error ? err.name : typeof err };
      // Our credentials refused is the operator's to fix; the rest is weather.
      if (reason === 'provider_auth' || !(err instanceof SmsDeliveryError)) logger.error(fields, 'text message not sent');
      else logger.warn(fields, 'text message not sent');
      audit.recordDetached({
        action: 'mfa.sms_failed',
        actorId: input.userId,
        targetType: 'mfa_factor',
        targetId: input.factorId,
        data: { to: masked, purpose: input.purpose, reason },
        context: input.context,
      });
      throw mfaError('SMS_DELIVERY_FAILED', FAILURE_TEXT[reason]);
    }
    audit.recordDetached({
      action: 'mfa.sms_sent',
      actorId: input.userId,
      targetType: 'mfa_factor',
      targetId: input.factorId,
      data: { to: masked, purpose: input.purpose },
      context: input.context,
    });
    return code;
  }

  /** A pending row's number; null when it cannot be read (its key left the keyring): then it is simply replaced. */
  function numberOf(row: FactorRow): string | null {
    if (!row.secret_enc) return null;
    try {
      return keyring.decryptString(row.secret_enc, aadOf(row.id));
    } catch {
      return null;
    }
  }

  async function confirmedRow(userId: string): Promise<FactorRow | null> {
    const row = await store.findByKind(userId, 'sms');
    return row?.confirmed_at && row.secret_enc ? row : null;
  }

  /** The pending row is replaced in two statements; a concurrent enrolment or confirm can slip in between. */
  async function replacePending(userId: string, row: NewFactor): Promise<void> {
    for (let i = 0; i < 3; i++) {
      await store.deletePending(userId, 'sms');
      try {
        await store.insert(row);
        return;
      } catch (err) {
        // The account was deleted under this request: its sessions went with it.
        if (pgCode(err) === '23503') throw authError('SESSION_REVOKED', 'This account no longer exists.');
        if (pgCode(err) !== '23505') throw err;
        if ((await store.findByKind(userId, 'sms'))?.confirmed_at) {
          throw mfaError('FACTOR_ALREADY_ENROLLED', 'A phone number is already on; remove it first.');
        }
      }
    }
    throw mfaError('FACTOR_NOT_PENDING', 'Another enrolment of a phone number is under way; try again.');
  }

  const factor: SecondFactor = {
    method: 'sms',

    // Without a sender there is no way to get a code, so login does not offer it.
    availableWith: (confirmed) => sender !== null && confirmed.some((f) => f.kind === 'sms'),

    async challenge(attempt, context) {
      const row = await confirmedRow(attempt.userId);
      if (!row) throw mfaError('MFA_METHOD_UNAVAILABLE', 'No phone number is set up for this account.');
      if (!sender) throw notConfigured();
      await codes.refuseIfLocked(attempt.id);
      const e164 = keyring.decryptString(row.secret_enc!, aadOf(row.id));
      const code = await deliver({ userId: attempt.userId, factorId: row.id, e164, purpose: attempt.purpose, context });
      await codes.remember(attempt.id, row.id, code);
      return { status: 'sent', sent_to: maskPhone(e164), expires_in: SMS_CODE_TTL_SECONDS };
    },

    async verify(attempt, proof) {
      const row = await confirmedRow(attempt.userId);
      if (!row) return null;
      const result = await codes.check(attempt.id, row.id, normalize(proof.code));
      if (!result.ok) return null;
      await store.touch(row.id, clock.now());
      return { amr: ['sms'], factorId: row.id };
    },
  };

  return {
    ...factor,

    /**
     * Starts (or continues) adding a phone: validates the number, texts a code and keeps the
     * number sealed in a pending row that belongs to this session (only it can confirm). The same
     * number again from the same session while pending is "send me a new code": same enrolment,
     * same failure count. Another number, or another session, starts a new enrolment. Nothing is
     * written unless the provider took the text.
     */
    async enrol(userId: string, sessionId: string, phone: string, context: AuditContext) {
      if (!sender) throw notConfigured();
      const parsed = parseMobileNumber(phone);
      if (!parsed.ok) throw smsError(parsed.reason === 'invalid' ? 'PHONE_INVALID' : 'PHONE_NOT_MOBILE', parsed.detail);
      const existing = await store.findByKind(userId, 'sms');
      if (existing?.confirmed_at) throw mfaError('FACTOR_ALREADY_ENROLLED', 'A phone number is already on; remove it first.');
      const resend = !!existing && existing.enrol_session_id === sessionId && numberOf(existing) === parsed.e164;
      const factorId = resend ? existing!.id : randomUUID();
      if (resend) await codes.refuseIfLocked(enrolAttempt(factorId, sessionId));
      const code = await deliver({ userId, factorId, e164: parsed.e164, purpose: 'enrol', context });
      if (!resend) {
        await replacePending(userId, {
          id: factorId,
          user_id: userId,
          kind: 'sms',
          name: parsed.masked,
          secret_enc: keyring.encrypt(parsed.e164, aadOf(factorId)),
          enrol_session_id: sessionId,
        });
      }
      await codes.remember(enrolAttempt(factorId, sessionId), factorId, code);
      return { status: 'sent' as const, factor_id: factorId, sent_to: parsed.masked, expires_in: SMS_CODE_TTL_SECONDS };
    },

    /**
     * The texted code, from the session that added the phone, turns it on (and makes that session
     * fresh at aal 2); five wrong codes end the enrolment. Another session's enrolment is answered
     * as none: nothing is compared, so the owner's code and tries stay as they were.
     */
    async confirm(userId: string, sessionId: string, code: string, options: Omit<EnableOptions, 'sessionId'>, context: AuditContext) {
      const row = await store.findByKind(userId, 'sms');
      if (row?.confirmed_at) throw mfaError('FACTOR_ALREADY_ENROLLED', 'A phone number is already on; remove it first.');
      if (!row || row.enrol_session_id !== sessionId) {
        throw mfaError('FACTOR_NOT_PENDING', 'Add a phone number first (POST /v1/me/mfa/sms).');
      }
      const result = await codes.check(enrolAttempt(row.id, sessionId), row.id, normalize(code));
      if (!result.ok && result.why === 'wrong') {
        audit.recordDetached({
          action: 'mfa.verification_failed',
          actorId: userId,
          targetType: 'mfa_factor',
          targetId: row.id,
          data: { method: 'sms', purpose: 'enrol' },
          context,
        });
      }
      if (!result.ok) {
        if (result.why === 'expired') {
          throw mfaError('MFA_CODE_INVALID', 'That code has expired or was already used; ask for a new one.', {
            attempts_remaining: result.remaining,
          });
        }
        if (result.why === 'locked') {
          throw mfaError('MFA_CODE_INVALID', 'Too many tries; add the number again.', { attempts_remaining: 0 });
        }
        if (result.remaining === 0) {
          // This enrolment only: not one the user started since.
          await store.deletePendingById(row.id);
          throw mfaError('MFA_CODE_INVALID', 'The code is not correct, and that was the last try; add the number again.', {
            attempts_remaining: 0,
          });
        }
        throw mfaError('MFA_CODE_INVALID', 'The code is not correct.', { attempts_remaining: result.remaining });
      }
      const { backupCodes } = await lifecycle.enable(userId, row, { ...options, sessionId }, context);
      return { factor_id: row.id, sent_to: row.name, backupCodes };
    },

    /** Removes the phone (confirmed or pending); the step-up is the route's. */
    async remove(userId: string, context: AuditContext) {
      const row = await store.findByKind(userId, 'sms');
      if (!row) throw mfaError('FACTOR_NOT_FOUND', 'No phone number is set up.');
      await lifecycle.remove(userId, row.id, context);
    },
  };
}

export type SmsFactor = ReturnType<typeof createSmsFactor>;
