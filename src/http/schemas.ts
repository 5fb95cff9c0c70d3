import { z } from 'zod';

/** Shared pieces of request and response schemas. */
// Trimmed before the format check, so "  Ann@Example.com " is the same address as "ann@example.com"
// (the store lower-cases it). `z.email()` would check the format first and reject the spaces.
export const email = z.string().trim().email({ message: 'Must be a valid email address' }).max(254);
// Length is enforced by the password policy, with a reason the user can act on; this only
// bounds what is worth hashing.
export const password = z.string().min(1).max(1024);
export const locale = z.string().regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'Must be a BCP 47 language tag such as en or pt-BR').max(35);
// Control characters have no place in a name, and Postgres refuses NUL in text outright.
export const displayName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f]*$/, 'Must not contain control characters');
export const uuid = z.uuid();

export const problem = z.object({
  type: z.string(),
  title: z.string(),
  status: z.number().int(),
  detail: z.string(),
  code: z.string(),
  request_id: z.string(),
  errors: z.array(z.object({ field: z.string(), message: z.string() })).optional(),
  retry_after: z.number().int().optional(),
});

export const accepted = z.object({ status: z.literal('accepted'), message: z.string() });
export const noContent = z.null().describe('No content');
