import { randomUUID } from 'node:crypto';
import { generateSecret, generateSync, verifySync } from 'otplib';
import QRCode from 'qrcode';
import type { AuditContext } from '../../audit/index.js';
import { mfaError } from '../errors.js';
import type { SecondFactor } from '../factor.js';
import type { EnableOptions } from '../lifecycle.js';
import type { FactorRow } from '../store.js';
import type { FactorDeps } from './deps.js';

/** RFC 6238 as every authenticator app reads it by default: SHA-1, 6 digits, 30 s. */
export const TOTP = { algorithm: 'SHA1', digits: 6, period: 30 } as const;
// ±1 step: a code from the previous or next 30 s window is accepted (clock drift, a slow typist).
const SKEW_STEPS = 1;
// An enrolment not confirmed within this time is void (the secret was on screen; start again).
const ENROLMENT_TTL_MS = 15 * 60 * 1000;
/**
 * Wrong six-digit codes per set-up (other input is no guess and costs nothing): the fifth ends it,
 * and a new set-up, with a new secret, needs step-up again. At ±1 step three codes match, so five
 * guesses have a 1.5e-5 chance, not the open-ended run of guesses over fifteen minutes an unlimited
 * confirm would allow.
 */
export const TOTP_ENROL_MAX_FAILURES = 5;
const SIX_DIGITS = /^\d{6}$/;
// Postgres: the one-TOTP-row-per-user index refused a second row (a concurrent set-up won).
const UNIQUE_VIOLATION = '23505';
const ONE_PER_KIND = 'mfa_factors_one_per_kind';

/** The code for a secret at a time (seconds): what an authenticator app shows. Exported for the RFC vectors. */
export function totpCode(secret: string | Uint8Array, epochSeconds: number, digits: 6 | 8 = TOTP.digits): string {
  return generateSync({ secret, epoch: epochSeconds, digits, period: TOTP.period, algorithm: 'sha1' });
}

/**
 * The otpauth:// URI of Google's Key URI Format: the label is "Issuer:account" and the issuer is
 * repeated as a parameter (apps read one or the other), both percent-encoded (a space is %20, not
 * +, which some apps show literally). Algorithm, digits and period are spelled out although they
 * are the defaults, so no app has to guess.
 */
function otpauthUri(issuer: string, account: string, secret: string): string {
  const e = encodeURIComponent;
  const params = `secret=${secret}&issuer=${e(issuer)}&algorithm=${TOTP.algorithm}&digits=${TOTP.digits}&period=${TOTP.period}`;
  return `otpauth://totp/${e(issuer)}:${e(account)}?${params}`;
}

/** What the user typed, as the app shows it: "123 456" and "123-456" are 123456. */
const normalized = (code: string | undefined) => (code ?? '').replace(/[\s-]/g, '');

const aadOf = (factorId: string) => `mfa_factor:${factorId}`;

function violatesOnePerKind(err: unknown): boolean {
  const e = err as { code?: unknown; constraint?: unknown } | null;
  return typeof e === 'object' && e !== null && e.code === UNIQUE_VIOLATION && e.constraint === ONE_PER_KIND;
}

/**
 * Authenticator apps (RFC 6238). The secret is sealed under the keyring with the factor id as AAD,
 * so a ciphertext cannot be moved to another row. A time step is accepted once per user: steps at
 * or before the last accepted one are not even tried, and the store's compare-and-set on
 * `last_used_step` (one UPDATE) settles races between requests and instances.
 */
export function createTotpFactor(deps: FactorDeps & { issuer: string }) {
  const { store, lifecycle, keyring, clock, audit } = deps;

  /** The carried part of the row, shaped as matchingStep reads it (confirmed by construction: carry() saw only confirmed rows). */
  function carriedRow(carried: unknown): Pick<FactorRow, 'id' | 'secret_enc' | 'last_used_step' | 'confirmed_at'> | null {
    const c = carried as { id?: unknown; secret_enc?: unknown; last_used_step?: unknown } | undefined;
    if (!c || typeof c.id !== 'string' || typeof c.secret_enc !== 'string') return null;
    const last = typeof c.last_used_step === 'string' ? c.last_used_step : null;
    return { id: c.id, secret_enc: c.secret_enc, last_used_step: last, confirmed_at: new Date(0) };
  }

  /** The matching time step of `code` for this factor, or null; nothing is recorded. */
  function matchingStep(row: Pick<FactorRow, 'id' | 'secret_enc' | 'last_used_step'>, code: string): number | null {
    if (!SIX_DIGITS.test(code) || !row.secret_enc) return null;
    const now = Math.floor(clock.now().getTime() / 1000);
    const lastUsed = row.last_used_step === null ? null : Number(row.last_used_step);
    // Every step in the window is already spent (a code from the next step was accepted, or
    // another instance's clock runs ahead of this one's): nothing can match. otplib throws on
    // such an afterTimeStep rather than answering "no", so it is not asked.
    if (lastUsed !== null && lastUsed >= Math.floor(now / TOTP.period) + SKEW_STEPS) return null;
    const secret = keyring.decryptString(row.secret_enc, aadOf(row.id));
    const result = verifySync({
      secret,
      token: code,
      epoch: now,
      epochTolerance: SKEW_STEPS * TOTP.period,
      period: TOTP.period,
      digits: TOTP.digits,
      algorithm: 'sha1',
      ...(lastUsed !== null ? { afterTimeStep: lastUsed } : {}),
    });
    return result.valid && 'timeStep' in result ? result.timeStep : null;
  }

  const notPending = () =>
    mfaError('FACTOR_NOT_PENDING', 'Start the authenticator app set-up first (POST /v1/me/mfa/totp); it lasts 15 minutes.');

  /**
   * The set-up this session started. One another session started is answered as no set-up at all:
   * a session that did not pass the step-up learns nothing about it and cannot guess its code.
   */
  async function pendingOf(userId: string, sessionId: string): Promise<FactorRow> {
    const row = await store.findByKind(userId, 'totp');
    if (row?.confirmed_at) throw mfaError('FACTOR_ALREADY_ENROLLED', 'An authenticator app is already on; remove it first.');
    if (!row || row.enrol_session_id !== sessionId || clock.now().getTime() - row.created_at.getTime() > ENROLMENT_TTL_MS) {
      throw notPending();
    }
    return row;
  }

  /**
   * A new pending row, with a new secret, for this session, in place of any earlier set-up (a
   * restart, here or on another session that passed step-up). Two set-ups started at once by the
   * same session (a double click) meet at the one-per-user index: the one that finds the other's
   * row answers with that set-up, so both show the same secret and nothing fails. Another
   * session's row is never shown: it is replaced, and two sessions that keep replacing each
   * other's are told to try again.
   */
  async function newPending(userId: string, sessionId: string): Promise<{ id: string; secret: string }> {
    for (let tries = 0; ; tries++) {
      // 20 random bytes (160 bits, RFC 4226's recommendation), base32 as apps take it.
      const secret = generateSecret({ length: 20 });
      const id = randomUUID();
      await store.deletePending(userId, 'totp');
      try {
        await store.insert({
          id,
          user_id: userId,
          kind: 'totp',
          name: 'Authenticator app',
          secret_enc: keyring.encrypt(secret, aadOf(id)),
          enrol_session_id: sessionId,
          // The enrolment window is measured on the service's clock, not the database's.
          created_at: clock.now(),
        });
        return { id, secret };
      } catch (err) {
        if (!violatesOnePerKind(err)) throw err;
        const other = await store.findByKind(userId, 'totp');
        if (other?.confirmed_at) throw mfaError('FACTOR_ALREADY_ENROLLED', 'An authenticator app is already on; remove it first.');
        if (other?.secret_enc && other.enrol_session_id === sessionId) {
          return { id: other.id, secret: keyring.decryptString(other.secret_enc, aadOf(other.id)) };
        }
        if (tries >= 3) throw mfaError('FACTOR_NOT_PENDING', 'Another authenticator app set-up is under way; try again.');
        // The other set-up was itself replaced in between, or is another session's: try again.
      }
    }
  }

  const factor: SecondFactor = {
    method: 'totp',

    availableWith: (confirmed) => confirmed.some((f) => f.kind === 'totp'),

    // A login carries the factor's id, sealed secret and last step from its first step; the
    // compare-and-set below only matches that row while it is confirmed and the step is new, so a
    // factor removed or replaced in between refuses the code.
    carry: (confirmed) => {
      const row = confirmed.find((f) => f.kind === 'totp');
      return row ? { id: row.id, secret_enc: row.secret_enc, last_used_step: row.last_used_step } : undefined;
    },

    async verify(attempt, proof) {
      const row = carriedRow(attempt.carried) ?? (await store.findByKind(attempt.userId, 'totp'));
      if (!row?.confirmed_at) return null;
      const step = matchingStep(row, normalized(proof.code));
      if (step === null || !(await store.advanceTotpStep(row.id, step, clock.now()))) return null;
      return { amr: ['otp'], factorId: row.id };
    },
  };

  return {
    ...factor,

    /**
     * Starts (or restarts) a set-up: a new secret in a pending row, shown once as text, as an
     * otpauth:// URI and as a QR code. A confirmed app must be removed (step-up) before another.
     */
    async enrol(userId: string, sessionId: string) {
      const existing = await store.findByKind(userId, 'totp');
      if (existing?.confirmed_at) throw mfaError('FACTOR_ALREADY_ENROLLED', 'An authenticator app is already on; remove it first.');
      const email = await deps.userEmail(userId);
      const { id, secret } = await newPending(userId, sessionId);
      const otpauthUrl = otpauthUri(deps.issuer, email, secret);
      const svg = await QRCode.toString(otpauthUrl, { type: 'svg', errorCorrectionLevel: 'M', margin: 2 });
      return {
        factor_id: id,
        secret,
        otpauth_url: otpauthUrl,
        qr_code: `data:image/svg+xml;base64,${Buffer.from(svg).toString('base64')}`,
        algorithm: TOTP.algorithm,
        digits: TOTP.digits,
        period: TOTP.period,
      };
    },

    /**
     * A current code, from the session that started the set-up, turns the app on (and makes that
     * session fresh at aal 2); its step counts as used, so the same code cannot sign in next. A
     * try is taken before the code is compared; the fifth wrong code ends the set-up.
     */
    async confirm(userId: string, sessionId: string, code: string, options: Omit<EnableOptions, 'sessionId'>, context: AuditContext) {
      const row = await pendingOf(userId, sessionId);
      // Not six digits: no code an app shows, so no guess; it costs no try (a typo should not).
      if (!SIX_DIGITS.test(normalized(code))) {
        throw mfaError('MFA_CODE_INVALID', 'The code is the 6 digits the app shows.', {
          attempts_remaining: Math.max(0, TOTP_ENROL_MAX_FAILURES - row.enrol_failures),
        });
      }
      const taken = await store.takeEnrolTry(row.id, sessionId, TOTP_ENROL_MAX_FAILURES);
      // Replaced, confirmed or ended in between, or every try is taken (some still in flight).
      if (taken === null) throw notPending();
      const step = matchingStep(row, normalized(code));
      if (step === null) {
        audit.recordDetached({
          action: 'mfa.verification_failed',
          actorId: userId,
          targetType: 'mfa_factor',
          targetId: row.id,
          data: { method: 'totp', purpose: 'enrol' },
          context,
        });
        const remaining = TOTP_ENROL_MAX_FAILURES - taken;
        if (remaining === 0) {
          await store.deletePendingById(row.id);
          throw mfaError('MFA_CODE_INVALID', 'The code is not correct, and that was the last try; start the set-up again.', {
            attempts_remaining: 0,
          });
        }
        throw mfaError('MFA_CODE_INVALID', 'The code is not correct; check the time on the device and try the next one.', {
          attempts_remaining: remaining,
        });
      }
      const { backupCodes } = await lifecycle.enable(userId, row, { ...options, sessionId }, context, async (tx) => {
        await store.advanceTotpStep(row.id, step, clock.now(), tx);
      });
      return { factor_id: row.id, backupCodes };
    },

    async remove(userId: string, context: AuditContext) {
      const row = await store.findByKind(userId, 'totp');
      if (!row) throw mfaError('FACTOR_NOT_FOUND', 'No authenticator app is set up.');
      await lifecycle.remove(userId, row.id, context);
    },
  };
}

export type TotpFactor = ReturnType<typeof createTotpFactor>;
