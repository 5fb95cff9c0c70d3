import { z } from 'zod';
import { email, password, uuid } from '../../http/schemas.js';
import { cookieSession, tokenPair } from '../tokens/index.js';
import { loginMethod } from '../mfa/index.js';

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

export const loginResponse = z.union([loginTokens, cookieSession, mfaRequired]);

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
