import { z } from 'zod';
import { errorSpec } from '../shared/errors.js';

/** Shared pieces of request and response schemas. */
// Trimmed before the format check, so "  Ann@Example.com " is the same address as "ann@example.com"
// (the store lower-cases it). `z.email()` would check the format first and reject the spaces.
export const email = z.string().trim().email({ message: 'Must be a valid email address' }).max(254);
// Length is enforced by the password policy, with a reason the user can act on; this only
// bounds what is worth hashing.
export const password = z.string().min(1).max(1024);
export const locale = z
  .string()
  .regex(/^[A-Za-z]{2,3}(-[A-Za-z0-9]{2,8})*$/, 'Must be a BCP 47 language tag such as en or pt-BR')
  .max(35);
// Control characters have no place in a name (Postgres refuses NUL in text outright), and
// direction marks, embeddings, overrides and isolates (U+200E/F, U+202A-E, U+2066-9) would let a
// name reorder the text around it wherever it is shown.
export const displayName = z
  .string()
  .trim()
  .min(1)
  .max(100)
  .regex(/^[^\u0000-\u001f\u007f-\u009f\u200e\u200f\u202a-\u202e\u2066-\u2069]*$/, 'Must not contain control or text-direction characters');
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
  // LAST_OWNER on account deletion: the orgs that would be left without an Owner.
  orgs: z.array(z.object({ id: z.string(), name: z.string() })).optional(),
  // ROLE_UNKNOWN: the role keys the org does not have.
  roles: z.array(z.string()).optional(),
  missing: z.array(z.string()).optional(),
  // MFA: wrong codes left on an mfa_token; what a step-up or a login can be completed with.
  attempts_remaining: z.number().int().optional(),
  methods: z.array(z.string()).optional(),
  required_aal: z.number().int().optional(),
  // RFC 6749 §5.2, at the token endpoint only.
  error: z.string().optional(),
});

const CODES_META = 'x-codes';

/** What any route may answer about its input: the body parser's refusals and schema validation. */
const BODY_CODES = ['VALIDATION_FAILED', 'MALFORMED_BODY', 'BODY_TOO_DEEP', 'BODY_FORBIDDEN_KEY'];

/**
 * The problem responses a route may give, by code: `...errorResponses('SESSION_NOT_FOUND',
 * 'INVALID_TOKEN')` declares 404 and 401 with the codes each status may carry (OpenAPI lists
 * them as the `code` enum). 400 for invalid or malformed input (the body parser's refusals
 * included) is declared on every route. The problem handler checks a thrown code against this
 * declaration in strict mode (tests).
 */
export function errorResponses(...codes: string[]) {
  const byStatus = new Map<number, Set<string>>([[400, new Set(BODY_CODES)]]);
  for (const code of codes) {
    const { status } = errorSpec(code);
    byStatus.set(status, (byStatus.get(status) ?? new Set()).add(code));
  }
  const responses: Record<number, typeof problem> = {};
  for (const [status, set] of byStatus) {
    const list = [...set].sort();
    responses[status] = problem.extend({ code: z.string().meta({ enum: list, [CODES_META]: list }) });
  }
  return responses;
}

/** The codes a route declared for a status (see errorResponses); null when it declared none. */
export function declaredCodes(responseSchema: unknown): string[] | null {
  const shape = (responseSchema as { shape?: { code?: z.ZodType } } | undefined)?.shape;
  if (!shape?.code) return null;
  const meta = z.globalRegistry.get(shape.code) as Record<string, unknown> | undefined;
  return Array.isArray(meta?.[CODES_META]) ? (meta[CODES_META] as string[]) : null;
}

export const accepted = z.object({ status: z.literal('accepted'), message: z.string() });
export const noContent = z.null().describe('No content');
