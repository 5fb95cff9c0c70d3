import { z } from 'zod';
import { displayName, email, password, uuid } from '../../http/schemas.js';
import { cookieSession, tokenPair } from '../tokens/index.js';
import { loginMethod, totpEnrolResponse, webauthnRegistration } from '../mfa/index.js';

export const loginBody = z.strictObject({
  email,
  password,
  org_id: uuid.optional(),
  mode: z.enum(['token', 'cookie']).default('token'),
  /** For clients without a cookie jar: the device_token a previous login returned. */
  device_token: z.string().min(1).max(200).optional(),
});

/** Token mode also returns the known-device token, for clients that keep it themselves. */
export const loginTokens = tokenPair.extend({ device_token: z.string() });

/** The password was right; a second factor completes the login (POST /v1/login/mfa and friends). */
export const mfaRequired = z.object({
  status: z.literal('mfa_required'),
  mfa_token: z.string(),
  methods: z.array(loginMethod),
  expires_in: z.number().int(),
  device_token: z.string().optional(),
});

/** The org requires a second factor the account does not have: enrol one with the token (/v1/login/mfa/enroll/*). */
export const mfaEnrollmentRequired = z.object({
  status: z.literal('mfa_enrollment_required'),
  mfa_token: z.string(),
  /** The factors the org allows, any of which may be enrolled. */
  methods: z.array(z.enum(['totp', 'sms', 'webauthn'])),
  expires_in: z.number().int(),
  device_token: z.string().optional(),
});

export const loginResponse = z.union([loginTokens, cookieSession, mfaRequired, mfaEnrollmentRequired]);

const mfaToken = z.string().min(1).max(128);

export const mfaBody = z.strictObject({
  mfa_token: mfaToken,
  method: z.enum(['totp', 'backup_code', 'sms']),
  code: z.string().trim().min(1).max(32),
});
export const mfaTokenBody = z.strictObject({ mfa_token: mfaToken });
export const mfaWebauthnBody = z.strictObject({ mfa_token: mfaToken, response: z.record(z.string(), z.unknown()) });

/** A completed second step: tokens (token mode) or the cookie-session answer (cookie mode). */
export const completedResponse = z.union([tokenPair, cookieSession]);
export const smsSentResponse = z.object({ status: z.literal('sent'), sent_to: z.string(), expires_in: z.number().int() });
export const webauthnOptionsResponse = z.object({ options: z.record(z.string(), z.unknown()) });

/*
 * Setting up a factor during a login (org policy: `mfa_enrollment_required`), with the
 * enroll-purpose mfa_token: /v1/login/mfa/enroll/*. The confirmation completes the login.
 */

/** The six digits the app or the text shows ("123 456" and "123-456" too): anything else costs no try. */
const sixDigits = z
  .string()
  .trim()
  .regex(/^\d{3}[\s-]?\d{3}$/, 'Must be the 6-digit code');

export const enrolTotpResponse = totpEnrolResponse;
export const enrolCodeBody = z.strictObject({ mfa_token: mfaToken, code: sixDigits });
export const enrolSmsBody = z.strictObject({
  mfa_token: mfaToken,
  /** International form: + and the country code (`+1 415 555 2671`); stored as E.164, shown masked. */
  phone: z.string().trim().min(1).max(32),
});
export const enrolSmsSentResponse = z.object({
  status: z.literal('sent'),
  factor_id: z.string(),
  /** The number as it is shown from now on: `+1 ••• ••• 2671`. */
  sent_to: z.string(),
  expires_in: z.number().int(),
});
export const enrolWebauthnOptionsBody = z.strictObject({
  mfa_token: mfaToken,
  /** A passkey: discoverable and user-verifying, so it can sign in without a password. */
  passkey: z.boolean().optional(),
});
export const enrolWebauthnOptionsResponse = z.object({
  options: z
    .record(z.string(), z.unknown())
    .meta({ description: 'PublicKeyCredentialCreationOptionsJSON for navigator.credentials.create' }),
});
export const enrolWebauthnBody = z.strictObject({
  mfa_token: mfaToken,
  response: webauthnRegistration,
  /** Defaults to "Passkey" or "Security key". */
  name: displayName.max(64).optional(),
});

/** Backup codes come with the account's first factor only, shown this once (null otherwise). */
const backupCodes = z.array(z.string()).nullable();
/** A login completed by turning a factor on: the completed second step's answer, and the backup codes. */
export const enrolledResponse = z.union([
  tokenPair.extend({ backup_codes: backupCodes }),
  cookieSession.extend({ backup_codes: backupCodes }),
]);
