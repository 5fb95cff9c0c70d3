import { z } from 'zod';
import { uuid } from '../../http/schemas.js';

export const userParams = z.strictObject({ id: uuid });
export const orgParams = z.strictObject({ org: uuid });
export const planBody = z.strictObject({ plan: z.enum(['starter', 'professional', 'enterprise']) });

/** Sessions ended and personal access tokens revoked. */
export const revoked = z.object({ revoked: z.number().int(), tokens_revoked: z.number().int() });
export const orgPlan = z.object({ id: z.string(), plan: z.enum(['starter', 'professional', 'enterprise']) });
export const rotation = z.object({ kid: z.string(), activates_at: z.string() });
