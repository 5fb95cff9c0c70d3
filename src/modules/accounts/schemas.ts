import { z } from 'zod';
import { displayName, email, locale, password } from '../../http/schemas.js';

export const signupBody = z.strictObject({ email, password, name: displayName, locale: locale.optional() });
export const verifyBody = z.strictObject({ token: z.string().min(10).max(200), password });
export const emailBody = z.strictObject({ email });
export const resetBody = z.strictObject({ token: z.string().min(10).max(200), password });
export const changePasswordBody = z.strictObject({ current_password: password, new_password: password });
export const deleteMeBody = z.strictObject({ password });
export const patchMeBody = z
  .strictObject({ name: displayName.optional(), locale: locale.nullable().optional() })
  .refine((b) => Object.keys(b).length > 0, { message: 'Send at least one of name, locale' });

/** The second factors as the profile shows them (the mfa module fills it in; never a secret, phones masked). */
export const mfaSummary = z.object({
  enabled: z.boolean(),
  methods: z.array(z.string()),
  factors: z.array(
    z.object({
      id: z.string(),
      kind: z.enum(['totp', 'sms', 'webauthn']),
      name: z.string(),
      passkey: z.boolean().optional(),
      created_at: z.string(),
      last_used_at: z.string().nullable(),
    }),
  ),
  backup_codes_remaining: z.number().int(),
});
export type MfaSummary = z.infer<typeof mfaSummary>;

export const profile = z.object({
  id: z.string(),
  email: z.string(),
  email_verified: z.boolean(),
  name: z.string(),
  locale: z.string().nullable(),
  created_at: z.string(),
  mfa: mfaSummary,
});
