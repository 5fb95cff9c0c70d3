import { defineErrors } from '../../shared/errors.js';

/** The MFA module's catalogue; each factor adds its own codes beside its file when it needs more. */
export const mfaError = defineErrors({
  // The mfa_token is unknown, expired, used up (5 wrong codes) or already completed.
  MFA_TOKEN_INVALID: [401, 'Invalid or expired MFA token'],
  // A wrong TOTP, backup or SMS code, or a WebAuthn assertion that does not verify.
  MFA_CODE_INVALID: [401, 'Invalid code'],
  // The account has no confirmed factor of that kind (or the mfa_token does not allow it).
  MFA_METHOD_UNAVAILABLE: [400, 'Method not available'],
  // Too many wrong second factors for this account across attempts.
  MFA_THROTTLED: [429, 'Too many failed second-factor attempts'],
  // Too many wrong second factors in a row (MFA_ACCOUNT_LOCK_FAILURES): locked until a password reset.
  MFA_LOCKED: [429, 'Second factor locked'],
  FACTOR_NOT_FOUND: [404, 'Factor not found'],
  FACTOR_ALREADY_ENROLLED: [409, 'Factor already enrolled'],
  // Confirm without an enrolment in progress (or after it expired).
  FACTOR_NOT_PENDING: [409, 'No enrolment in progress'],
  // An org policy requires a second factor, and this is the last one (org issue).
  LAST_FACTOR_REQUIRED: [409, 'A second factor is required'],
  // SMS: too many texts for this account or number; the provider refused or failed; none configured.
  SMS_RATE_LIMITED: [429, 'Too many text messages'],
  SMS_DELIVERY_FAILED: [502, 'Text message not sent'],
  SMS_NOT_CONFIGURED: [503, 'Text messages are not available'],
} as const);
