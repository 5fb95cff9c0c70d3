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

export const profile = z.object({
  id: z.string(),
  email: z.string(),
  email_verified: z.boolean(),
  name: z.string(),
  locale: z.string().nullable(),
  created_at: z.string(),
});
