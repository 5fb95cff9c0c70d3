import { z } from 'zod';
import { password } from '../../http/schemas.js';

export const loginMethod = z.enum(['totp', 'backup_code', 'sms', 'webauthn']);
/** A six-digit code (TOTP, SMS) or a backup code; spaces and hyphens are the user's business. */
export const code = z.string().trim().min(1).max(32);
/** What `PublicKeyCredential.toJSON()` gives; @simplewebauthn/server checks the shape. */
export const webauthnResponse = z.record(z.string(), z.unknown());

export const backupCodesResponse = z.object({ backup_codes: z.array(z.string()), remaining: z.number().int() });

export const reauthenticateBody = z.union([
  z.strictObject({ password }),
  z.strictObject({ method: z.enum(['totp', 'backup_code', 'sms']), code }),
  z.strictObject({ method: z.literal('webauthn'), response: webauthnResponse }),
]);

export const reauthenticateResponse = z.object({
  aal: z.number().int(),
  authenticated_at: z.string(),
  fresh_until: z.string(),
});

export const challengeBody = z.strictObject({ method: z.enum(['sms', 'webauthn']) });
/** SMS: where it went (masked); WebAuthn: `{options}` for navigator.credentials.get. */
export const challengeResponse = z.record(z.string(), z.unknown());

export const totpEnrolResponse = z.object({
  factor_id: z.string(),
  /** Base32, for typing in by hand. */
  secret: z.string(),
  otpauth_url: z.string(),
  /** The otpauth URI as a QR code: an SVG data URL for an <img src>. */
  qr_code: z.string(),
  algorithm: z.literal('SHA1'),
  digits: z.literal(6),
  period: z.literal(30),
});

export const totpConfirmBody = z.strictObject({
  code,
  /** Sign out every other session once the factor is on. */
  revoke_other_sessions: z.boolean().default(false),
});

/** Backup codes come with the first factor only, and are never shown again (null otherwise). */
export const enabledResponse = z.object({
  status: z.literal('enabled'),
  factor_id: z.string(),
  backup_codes: z.array(z.string()).nullable(),
});
export const totpConfirmResponse = enabledResponse;
