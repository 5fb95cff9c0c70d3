import { z } from 'zod';
import { email, password, uuid } from '../../http/schemas.js';
import { cookieSession, tokenPair } from '../tokens/index.js';

export const loginBody = z.strictObject({
  email,
  password,
  org_id: uuid.optional(),
  mode: z.enum(['token', 'cookie']).default('token'),
});

export const loginResponse = z.union([tokenPair, cookieSession]);
